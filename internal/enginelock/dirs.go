package enginelock

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// UserStateDir is where a user's engine keeps its lock: $XDG_STATE_HOME/pin-client or
// ~/.local/state/pin-client on Linux and other Unix, ~/Library/Application Support/pin-client
// on macOS, %LOCALAPPDATA%\pin-client on Windows. It does not create the directory.
func UserStateDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "pin-client"), nil
		}
		return "", errors.New("state directory: %LOCALAPPDATA% is not set")
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("state directory: $HOME is not set")
		}
		return filepath.Join(home, "Library", "Application Support", "pin-client"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "pin-client"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("state directory: neither $XDG_STATE_HOME nor $HOME is set")
	}
	return filepath.Join(home, ".local", "state", "pin-client"), nil
}

// SystemStateDir is where the system-wide service keeps its lock: /var/lib/pin-clientd on
// Linux and other Unix, /Library/Application Support/pin-clientd on macOS,
// %ProgramData%\pin-clientd on Windows.
func SystemStateDir() string {
	switch runtime.GOOS {
	case "windows":
		d := os.Getenv("ProgramData")
		if d == "" {
			d = `C:\ProgramData`
		}
		return filepath.Join(d, "pin-clientd")
	case "darwin":
		return "/Library/Application Support/pin-clientd"
	}
	return "/var/lib/pin-clientd"
}
