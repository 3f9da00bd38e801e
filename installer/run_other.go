//go:build !linux

package installer

func forceSystemd() {}
