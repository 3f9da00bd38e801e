package app

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pin-client/pin-client/installer"
	"github.com/pin-client/pin-client/internal/config"
)

func TestElevatedArgs(t *testing.T) {
	cfg := &config.Config{Nodes: []config.Node{{Capacity: 2}, {Capacity: 3}}}
	got := elevatedInstallArgs(`C:\cfg\config.json`, cfg)
	want := []string{"service", "install", "-c", `C:\cfg\config.json`, "-n", "5", "--start"}
	if !slices.Equal(got, want) {
		t.Errorf("install args %q, want %q", got, want)
	}
	if got := elevatedUninstallArgs(); !slices.Equal(got, []string{"service", "uninstall"}) {
		t.Errorf("uninstall args %q", got)
	}
}

func TestElevatedResult(t *testing.T) {
	daemon := `C:\Program Files\PIN Client\pin-clientd.exe`
	shown := []string{"service", "uninstall"}
	cases := []struct {
		name   string
		code   uint32
		err    error
		output string
		want   []string // in the message; nil: no error
	}{
		{"ok", 0, nil, "Uninstalled the Windows service.\n", nil},
		{"declined", 0, syscall.Errno(1223), "", []string{"remove it: the administrator prompt was declined, so nothing changed", "answer Yes", `"C:\Program Files\PIN Client\pin-clientd.exe" service uninstall`}},
		{"failed", 1, nil, "warning: x\r\npin-clientd: service uninstall: pin-clientd is not installed as a system service; install it with `pin-clientd service install`\r\n",
			[]string{"remove it: service uninstall: pin-clientd is not installed as a system service; install it with"}},
		{"failed silently", 3, nil, "  \n", []string{"remove it failed (exit status 3)", "from an Administrator prompt to see why", "service uninstall"}},
		{"not started", 0, errors.New("The system cannot find the file specified."), "", []string{"could not run it as Administrator (The system cannot find the file specified.)", `"C:\Program Files\PIN Client\pin-clientd.exe" service uninstall`}},
		{"timeout", 0, context.DeadlineExceeded, "", []string{"did not finish in time", "service status"}},
	}
	for _, c := range cases {
		err := elevatedResult("remove it", daemon, shown, c.code, c.err, c.output)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "pin-clientd: service") {
			t.Errorf("%s: not one clean line: %q", c.name, err)
		}
	}
}

// TestRunDaemonElevated runs the elevated path with a fake elevation: the command line
// carries --output FILE, what the command wrote there becomes the message, and the file
// is gone afterwards.
func TestRunDaemonElevated(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out string
	fake := func(code uint32, err error, text string) func(context.Context, string, []string) (uint32, error) {
		return func(_ context.Context, exe string, args []string) (uint32, error) {
			if exe != "pin-clientd.exe" || len(args) < 2 || args[len(args)-2] != "--output" {
				t.Errorf("elevated %s %q", exe, args)
				return 1, nil
			}
			out = args[len(args)-1]
			if text != "" {
				if werr := os.WriteFile(out, []byte(text), 0o600); werr != nil {
					t.Error(werr)
				}
			}
			return code, err
		}
	}
	old := runElevated
	t.Cleanup(func() { runElevated = old })

	runElevated = fake(0, nil, "Installed the Windows service service pin-clientd (config C:\\c.json, -n 1).\nStarted the Windows service service.\n")
	what, err := runDaemonElevated(context.Background(), "pin-clientd.exe", elevatedUninstallArgs(), "remove it")
	if err != nil || what != `Installed the Windows service service pin-clientd (config C:\c.json, -n 1).` {
		t.Errorf("ok: %q, %v", what, err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output file left behind: %v", err)
	}

	runElevated = fake(0, syscall.Errno(1223), "")
	if _, err := runDaemonElevated(context.Background(), "pin-clientd.exe", elevatedUninstallArgs(), "remove it"); err == nil || !strings.Contains(err.Error(), "declined") {
		t.Errorf("declined: %v", err)
	}
	runElevated = fake(1, nil, "pin-clientd: service uninstall: Access is denied.; run it as Administrator\n")
	if _, err := runDaemonElevated(context.Background(), "pin-clientd.exe", elevatedUninstallArgs(), "remove it"); err == nil || err.Error() != "remove it: service uninstall: Access is denied.; run it as Administrator" {
		t.Errorf("failed: %v", err)
	}
}

// TestAppService: the app's own service is the user one where user services exist.
func TestAppService(t *testing.T) {
	if !appService("user") || appService("system") != !installer.UserServices() {
		t.Errorf("appService: user %v, system %v", appService("user"), appService("system"))
	}
}
