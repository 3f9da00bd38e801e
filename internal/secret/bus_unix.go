//go:build linux || freebsd || openbsd || netbsd || dragonfly

package secret

import (
	"fmt"
	"os"
	"path/filepath"
)

// runUserDir is where godbus looks for the session bus socket; tests replace it.
var runUserDir = func() string { return fmt.Sprintf("/run/user/%d", os.Getuid()) }

// sessionBus reports whether a D-Bus session bus is there to reach the Secret Service
// on, looking where godbus looks, but without its last resort: with no address godbus
// runs dbus-launch, which on a headless machine with dbus-x11 installed starts a new
// dbus-daemon and gnome-keyring (locked, useless) on every call and leaves them running.
func sessionBus(getenv func(string) string) bool {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return true
	}
	dir := runUserDir()
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}
