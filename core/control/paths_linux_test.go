package control

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestUserSocketPathLinux(t *testing.T) {
	t.Setenv(SocketEnv, "")
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if p, want := UserSocketPath(), filepath.Join(dir, "pin-client", "engine.sock"); p != want {
		t.Errorf("with XDG_RUNTIME_DIR: %q, want %q", p, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if p, want := UserSocketPath(), filepath.Join(tmp, "pin-client-"+strconv.Itoa(os.Getuid()), "engine.sock"); p != want {
		t.Errorf("without XDG_RUNTIME_DIR: %q, want %q", p, want)
	}
	if p := SystemSocketPath(); p != "/run/pin-clientd/engine.sock" {
		t.Errorf("SystemSocketPath = %q", p)
	}
}
