package main

import (
	"os"
	"syscall"
	"time"
)

// procAttr makes the kernel send the daemon SIGTERM if the harness dies first, so a
// killed run leaves no pin-clientd reconnecting to a gateway that is gone.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// exitUsage is an exited process's CPU time (user+system) and peak RSS in bytes.
func exitUsage(ps *os.ProcessState) (cpu time.Duration, maxRSS int64, ok bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss << 10, true // Maxrss is in KiB on Linux
}
