package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent: the kernel sends SIGKILL to the daemon if the soak dies first, so an
// interrupted run leaves nothing reconnecting in the background.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
