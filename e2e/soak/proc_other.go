//go:build !linux

package main

import "os/exec"

// dieWithParent: only Linux kills a child when its parent dies (Pdeathsig); the soak
// runs on Linux, this keeps `GOOS=windows go vet ./...` and `GOOS=darwin go vet` whole.
func dieWithParent(*exec.Cmd) {}
