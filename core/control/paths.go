package control

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// SocketEnv, when set, overrides UserSocketPath (tests and unusual setups).
const SocketEnv = "PIN_CONTROL_SOCKET"

// UserSocketPath is the endpoint of an engine running as the current user: the
// foreground pin-clientd, a per-user service, or the desktop app's own engine.
//
//	Linux    $XDG_RUNTIME_DIR/pin-client/engine.sock
//	         (no XDG_RUNTIME_DIR: os.TempDir()/pin-client-<uid>/engine.sock)
//	macOS    $TMPDIR/pin-client/engine.sock (the per-user temporary directory)
//	Windows  \\.\pipe\pin-client-<username>
//
// $PIN_CONTROL_SOCKET, when set, is returned instead.
func UserSocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	switch runtime.GOOS {
	case "windows":
		return `\\.\pipe\pin-client-` + pipeUserName()
	case "darwin":
		return filepath.Join(os.TempDir(), "pin-client", "engine.sock")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "pin-client", "engine.sock")
	}
	return filepath.Join(os.TempDir(), "pin-client-"+strconv.Itoa(os.Getuid()), "engine.sock")
}

// SystemSocketPath is the endpoint of the system-wide service:
//
//	Linux    /run/pin-clientd/engine.sock
//	macOS    /var/run/pin-clientd/engine.sock
//	Windows  \\.\pipe\pin-clientd
func SystemSocketPath() string {
	switch runtime.GOOS {
	case "windows":
		return `\\.\pipe\pin-clientd`
	case "linux":
		return "/run/pin-clientd/engine.sock"
	}
	return "/var/run/pin-clientd/engine.sock"
}

// DefaultPaths is where a face looks for a running engine, in order: the system
// service first, then the user's engine (duplicates removed).
func DefaultPaths() []string {
	s, u := SystemSocketPath(), UserSocketPath()
	if s == u {
		return []string{s}
	}
	return []string{s, u}
}

// pipeUserName is the current user's name as it may appear in a pipe name: without
// its domain (DOMAIN\name), other characters than letters, digits, '.', '_' and '-'
// replaced with '_'.
func pipeUserName() string {
	name := os.Getenv("USERNAME")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, name)
}
