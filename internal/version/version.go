// Package version holds the build's version string. Release builds stamp it with
//
//	go build -ldflags "-X github.com/pin-client/pin-client/internal/version.Version=3.0.0"
//
// (the Makefile does this); an unstamped build reports "3.0.0-dev".
package version

import (
	"fmt"
	"runtime"
)

// Version is the release version, set at link time by -ldflags -X. It must stay a
// plain string variable (not a constant) for -X to work.
var Version = "3.0.0-dev"

// String is the one-line version banner of the daemon, for example
// "pin-clientd 3.0.0 (go1.26.0, linux/amd64)".
func String() string {
	return fmt.Sprintf("pin-clientd %s (%s, %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
