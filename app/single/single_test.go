package single

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// sockPath is short: Unix socket paths are limited to about 100 bytes.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sub", "i.sock")
}

func TestSecondInstanceShowsFirst(t *testing.T) {
	path := sockPath(t)
	shown := make(chan struct{}, 2)
	release, err := Claim(path, func() { shown <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(path, func() { t.Error("the second instance was asked to show") }); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Claim: err = %v, want ErrRunning", err)
	}
	select {
	case <-shown:
	default:
		t.Fatal("the first instance was not asked to show its window")
	}
	release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after release: %v", err)
	}
	// Released: the next one becomes the instance.
	release2, err := Claim(path, func() {})
	if err != nil {
		t.Fatalf("Claim after release: %v", err)
	}
	release2()
}

func TestStaleSocketReplaced(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// A crashed instance leaves its socket file behind: bind without listening on it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	release, err := Claim(path, func() {})
	if err != nil {
		t.Fatalf("Claim over a stale socket: %v", err)
	}
	release()
}

func TestClaimBadFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(filepath.Join(file, "i.sock"), func() {}); err == nil {
		t.Error("Claim under a file: want an error")
	}
}
