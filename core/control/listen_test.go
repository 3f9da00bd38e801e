//go:build !windows

package control

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// staleSocket leaves a socket file nothing listens on, as a killed engine does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("stale socket not left: %v", err)
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "pin-client", "engine.sock")
	ln, err := Listen(path, ListenOptions{Group: -1})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v, want a socket with mode 0600", err, fi.Mode())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode %v, want 0700", di.Mode().Perm())
	}

	// A live socket is refused, and left alone.
	if _, err := Listen(path, ListenOptions{Group: -1}); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Listen = %v, want ErrInUse naming the path", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the live socket was removed: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("closing the listener left the socket: %v", err)
	}

	// A stale socket is replaced.
	staleSocket(t, path)
	ln, err = Listen(path, ListenOptions{Group: -1})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	c, err := dial(context.Background(), path)
	if err != nil {
		t.Fatalf("the new socket does not answer: %v", err)
	}
	c.Close()
	ln.Close()

	// Anything else at the path is left alone.
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, ListenOptions{Group: -1}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("a regular file was replaced")
	}
}

func TestListenGroupAndSystem(t *testing.T) {
	gid := os.Getgid()
	path := filepath.Join(t.TempDir(), "pin-clientd", "engine.sock")
	ln, err := Listen(path, ListenOptions{Group: gid, System: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o660 || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("socket mode %v gid %d, want 0660 gid %d", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid, gid)
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o750 || int(di.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("directory mode %v, want 0750 with the group", di.Mode().Perm())
	}

	// An existing directory keeps its mode.
	shared := t.TempDir()
	os.Chmod(shared, 0o755)
	ln2, err := Listen(filepath.Join(shared, "e.sock"), ListenOptions{Group: -1, System: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if di, _ := os.Stat(shared); di.Mode().Perm() != 0o755 {
		t.Errorf("an existing directory was changed to %v", di.Mode().Perm())
	}
}

func TestListenLongPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("x", 120), "engine.sock")
	if _, err := Listen(path, ListenOptions{Group: -1}); err == nil || !strings.Contains(err.Error(), SocketEnv) {
		t.Errorf("Listen on a %d-byte path = %v, want advice to set %s", len(path), err, SocketEnv)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	stale := filepath.Join(dir, "stale.sock")
	staleSocket(t, stale)
	a, b := serve(t, newFake(), nil), serve(t, newFake(), nil)

	c, info, err := Find(ctx10(t), missing, stale, a.path, b.path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != a.path || info.Socket != a.path {
		t.Errorf("Find chose %s (%s), want the first live one %s", c.Path(), info.Socket, a.path)
	}
	if _, err := c.Info(ctx10(t)); err != nil {
		t.Errorf("the found client does not work: %v", err)
	}

	_, _, err = Find(ctx10(t), missing, stale)
	if !errors.Is(err, ErrNoEngine) {
		t.Fatalf("Find with no engine = %v, want ErrNoEngine", err)
	}
	for _, want := range []string{missing + ": not there", stale + ": connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if _, err := os.Lstat(stale); err != nil {
		t.Errorf("Find removed the stale socket: %v", err)
	}

	t.Setenv(SocketEnv, b.path)
	if c, _, err := Find(ctx10(t)); err != nil || c.Path() != b.path {
		t.Errorf("Find() with %s set found %v, %v", SocketEnv, c, err)
	}
}

// An engine that accepts but never answers costs Find about a second, then it moves on.
func TestFindSkipsHungEngine(t *testing.T) {
	hung := filepath.Join(t.TempDir(), "hung.sock")
	ln, err := net.Listen("unix", hung)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	live := serve(t, newFake(), nil)
	c, _, err := Find(ctx10(t), hung, live.path)
	if err != nil || c.Path() != live.path {
		t.Fatalf("Find = %v, %v; want the live engine", c, err)
	}
}
