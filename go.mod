module github.com/pin-client/pin-client

go 1.26
