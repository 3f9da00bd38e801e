// Package demotest helps test the demo: Guard points every per-user location a program
// could read or write (HOME, the XDG directories, TMPDIR, the session bus the OS keyring
// is reached through, the control socket) at places of the test's own, and fails the
// test when the demo touched any of them or left anything behind.
package demotest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pin-client/pin-client/core/control"
)

// Guard sets HOME, XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME, XDG_CACHE_HOME and
// XDG_RUNTIME_DIR to empty directories, TMPDIR to another, and DBUS_SESSION_BUS_ADDRESS
// (how the OS keyring, the Secret Service, is reached) to a socket that records any
// connection; PIN_CONTROL_SOCKET and PIN_API_SECRET are cleared. When the test ends it
// fails if the keyring socket was dialled, if anything appeared under HOME or the XDG
// directories, or if TMPDIR is not empty again (the demo leaves nothing behind). It
// calls t.Setenv, so the test must not be parallel. keep lists what may be created,
// as VAR/relative-path (e.g. "XDG_CACHE_HOME/font_index_v5.cache", the GUI toolkit's
// own font cache); nothing by default.
func Guard(t *testing.T, keep ...string) {
	t.Helper()
	root := t.TempDir()
	dirs := map[string]string{}
	for _, k := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "TMPDIR"} {
		d := filepath.Join(root, k)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Setenv(k, d)
		dirs[k] = d
	}
	t.Setenv(control.SocketEnv, "")
	t.Setenv("PIN_API_SECRET", "")

	bus := filepath.Join(root, "bus")
	ln, err := net.Listen("unix", bus)
	if err != nil {
		t.Fatal(err)
	}
	// Every connection is recorded and closed at once (a keyring client fails fast). At
	// the end a sentinel connection from a named address is made: connections are
	// accepted in order, so once the sentinel is seen every earlier one was counted.
	sentinel := filepath.Join(root, "sentinel")
	var dialled atomic.Bool
	seen := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if a := c.RemoteAddr(); a != nil && a.String() == sentinel {
				close(seen)
			} else {
				dialled.Store(true)
			}
			c.Close()
		}
	}()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+bus)

	t.Cleanup(func() {
		c, err := net.DialUnix("unix", &net.UnixAddr{Name: sentinel, Net: "unix"}, &net.UnixAddr{Name: bus, Net: "unix"})
		if err != nil {
			t.Errorf("session bus sentinel: %v", err)
		} else {
			<-seen
			c.Close()
		}
		ln.Close()
		os.Remove(sentinel)
		if dialled.Load() {
			t.Errorf("the demo connected to the session bus (the OS keyring); it must never touch the keyring")
		}
		allowed := map[string]bool{}
		for _, k := range keep {
			v, rel, _ := strings.Cut(k, "/")
			allowed[filepath.Join(dirs[v], rel)] = true
		}
		for k, d := range dirs {
			err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
				if err != nil || p == d {
					return err
				}
				if allowed[p] {
					return filepath.SkipDir
				}
				t.Errorf("the demo left %s in $%s; it must not touch the user's files and must leave nothing behind", p, k)
				return nil
			})
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Error(err)
			}
		}
	})
}
