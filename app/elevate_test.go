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

// splitWindows splits a command line's arguments as CommandLineToArgvW (and the
// Microsoft C runtime since 2008) does.
func splitWindows(s string) []string {
	var args []string
	var b strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				b.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					b.WriteByte('"')
					i++
				}
			} else {
				b.WriteString(strings.Repeat(`\`, n))
			}
			have = true
		case c == '"':
			if inQuote && i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i += 2
			} else {
				inQuote = !inQuote
				i++
			}
			have = true
		case (c == ' ' || c == '\t') && !inQuote:
			if have {
				args = append(args, b.String())
				b.Reset()
				have = false
			}
			i++
		default:
			b.WriteByte(c)
			have = true
			i++
		}
	}
	if have {
		args = append(args, b.String())
	}
	return args
}

func TestQuoteWindowsArgs(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                    `plain`,
		`C:\Users\ann\config.json`: `C:\Users\ann\config.json`,
		`C:\Users\Ann Lee\PIN Client\config.json`: `"C:\Users\Ann Lee\PIN Client\config.json"`,
		``:                `""`,
		`say "hi"`:        `"say \"hi\""`,
		`dir with space\`: `"dir with space\\"`,
		`a\"b`:            `"a\\\"b"`,
		"tab\there":       "\"tab\there\"",
	} {
		if got := quoteWindowsArg(in); got != want {
			t.Errorf("quoteWindowsArg(%q) = %s, want %s", in, got, want)
		}
	}
	words := []string{"service", "install", "-c", `C:\Users\Ann Lee\AppData\Roaming\PIN Client\config.json`, "", `q"u"o\te`,
		`trailing\\`, `x \\" y`, "-n", "4", "--start", "--output", `C:\Users\Ann Lee\AppData\Local\Temp\pin-clientd-1.txt`, `\\server\share\a b\`}
	line := quoteWindowsArgs(words)
	if got := splitWindows(line); !slices.Equal(got, words) {
		t.Errorf("%s splits into\n%q, want\n%q", line, got, words)
	}
}

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
