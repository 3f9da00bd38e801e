//go:build !linux

package main

import (
	"os"
	"syscall"
	"time"
)

// procAttr: nothing to set off Linux (run refuses to start there anyway).
func procAttr() *syscall.SysProcAttr { return nil }

func exitUsage(*os.ProcessState) (time.Duration, int64, bool) { return 0, 0, false }
