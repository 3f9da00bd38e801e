package installer

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestUserServices(t *testing.T) {
	for goos, want := range map[string]bool{"linux": true, "darwin": true, "windows": false} {
		if got := userServices(goos); got != want {
			t.Errorf("userServices(%s) = %v, want %v", goos, got, want)
		}
	}
}

// TestFind picks the installed service: the system one first, the user one when only
// that is installed, the user one when asked for.
func TestFind(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the unit files are systemd's")
	}
	o := testOptions(false, t.TempDir())
	o.Root = t.TempDir()
	sysUnit := filepath.Join(o.Root, "etc", "systemd", "system", ServiceName+".service")
	userUnit := filepath.Join(o.Home, ".config", "systemd", "user", ServiceName+".service")
	write := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("[Unit]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, o Options, wantPath string, wantUser bool) {
		t.Helper()
		m, user, err := Find(o)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if m.Path() != wantPath || user != wantUser {
			t.Errorf("%s: got %s (user %v), want %s (user %v)", what, m.Path(), user, wantPath, wantUser)
		}
	}
	uo := o
	uo.User = true
	check("nothing installed", o, sysUnit, false)
	check("nothing installed, --user", uo, userUnit, true)
	write(userUnit)
	check("only the user service", o, userUnit, true)
	write(sysUnit)
	check("both", o, sysUnit, false)
	check("both, --user", uo, userUnit, true)

	if _, _, err := Find(Options{}); err == nil {
		t.Error("Find without a name: no error")
	}
}
