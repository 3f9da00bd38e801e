//go:build !windows

package installer

// logToService: systemd and launchd capture stderr (the journal, StandardErrorPath).
const logToService = false

// selfExit is not needed: Run's wait returns when the program fails on its own.
var selfExit func(int)
