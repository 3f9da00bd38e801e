package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/internal/secret"
	"github.com/zalando/go-keyring"
)

// serviceEnv is secretEnv plus a fake systemctl first on PATH (recording its
// arguments) and a fixed executable path. It returns a function that yields (and
// clears) the systemctl calls made.
func serviceEnv(t *testing.T) (*fakeIO, string, func() []string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("service install is exercised through the systemd backend (Linux)")
	}
	f, cfg := secretEnv(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\nprintf '%s' \"$FAKE_SYSTEMCTL_OUT\"\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_SYSTEMCTL_OUT", "")
	old := executable
	executable = func() (string, error) { return "/usr/local/bin/pin-clientd", nil }
	t.Cleanup(func() { executable = old })
	return f, cfg, func() []string {
		data, _ := os.ReadFile(log)
		os.Remove(log)
		if s := strings.TrimSpace(string(data)); s != "" {
			return strings.Split(s, "\n")
		}
		return nil
	}
}

func sameCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("systemctl calls\n got %q\nwant %q", got, want)
	}
}

func TestServiceInstallSystem(t *testing.T) {
	f, cfg, calls := serviceEnv(t)
	keyring.Set(secret.KeyringService, "op_cmdtest", testSecret) // the installing user's secret
	ctx := context.Background()
	rel, _ := filepath.Rel(mustGetwd(t), cfg) // a relative -c is stored absolute
	err := runService(ctx, []string{"install", "-c", rel, "-n", "3", "--grace", "20s"}, f.io())
	if err != nil {
		t.Fatal(err)
	}
	sameCalls(t, calls(), "daemon-reload", "enable pin-clientd.service")
	unitPath := filepath.Join(systemRoot, "etc", "systemd", "system", "pin-clientd.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		// The sandboxed unit gets its config and secret as systemd credentials.
		"ExecStart=/usr/local/bin/pin-clientd service run -n 3 --grace 20s -c %d/config.json",
		"LoadCredential=config.json:" + cfg,
		"LoadCredential=pin-api-secret:/etc/pin-client/pin-clientd.secret",
		"DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "CapabilityBoundingSet=",
		"StateDirectory=pin-clientd", "RuntimeDirectory=pin-clientd", "RuntimeDirectoryMode=0750",
		"TimeoutStopSec=30", // grace 20s + 5s margin + 5s
		"After=network-online.target", "Wants=network-online.target",
		"Restart=on-failure", "RestartSec=10", "WantedBy=multi-user.target",
	} {
		if !strings.Contains(string(unit), line+"\n") {
			t.Errorf("unit lacks %q:\n%s", line, unit)
		}
	}
	for _, gone := range []string{"WorkingDirectory=", "PIN_SECRET_FILE"} {
		if strings.Contains(string(unit), gone) {
			t.Errorf("unit still has %q (hidden by ProtectHome, or replaced by the credential):\n%s", gone, unit)
		}
	}
	// The secret was copied once into the owner-only service file, and said so.
	file := filepath.Join(systemRoot, "etc", "pin-client", "pin-clientd.secret")
	sec, err := secret.ReadFile(file)
	if err != nil || sec.Reveal() != testSecret {
		t.Fatalf("service secret file: %v", err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v", fi.Mode())
	}
	out := f.stdout.String()
	for _, want := range []string{"Installed the systemd (system) service " + unitPath, "Copied the API secret (from OS keyring (pin-client/op_cmdtest)) to /etc/pin-client/pin-clientd.secret", "one-time copy", "pin-clientd service start\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f.assertNoSecret(t)

	// Installing again is refused with the way out.
	err = runService(ctx, []string{"install", "-c", cfg}, f.io())
	if err == nil || !strings.Contains(err.Error(), "service uninstall") {
		t.Errorf("second install: %v", err)
	}
	calls()

	f.stdout.Reset()
	t.Setenv("FAKE_SYSTEMCTL_OUT", "active\n")
	if err := runService(ctx, []string{"status"}, f.io()); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, calls(), "is-active pin-clientd.service")
	for _, want := range []string{"service:  running (systemd (system))", "unit:     " + unitPath, "/etc/pin-client/pin-clientd.secret (present)", "journalctl -u pin-clientd"} {
		if !strings.Contains(f.stdout.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, f.stdout.String())
		}
	}
	t.Setenv("FAKE_SYSTEMCTL_OUT", "")

	for _, a := range []string{"start", "stop", "restart"} {
		if err := runService(ctx, []string{a}, f.io()); err != nil {
			t.Fatal(err)
		}
	}
	sameCalls(t, calls(), "start pin-clientd.service", "stop pin-clientd.service", "restart pin-clientd.service")

	f.stdout.Reset()
	if err := runService(ctx, []string{"uninstall"}, f.io()); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, calls(), "stop pin-clientd.service", "disable pin-clientd.service", "daemon-reload", "reset-failed pin-clientd.service")
	if fileExists(unitPath) || fileExists(file) {
		t.Error("uninstall left the unit or the secret file behind")
	}
	if !strings.Contains(f.stdout.String(), "Removed the service's secret file") {
		t.Errorf("uninstall output:\n%s", f.stdout.String())
	}
	if err := runService(ctx, []string{"uninstall"}, f.io()); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("second uninstall: %v", err)
	}
	if err := runService(ctx, []string{"start"}, f.io()); err == nil || !strings.Contains(err.Error(), "service install") {
		t.Errorf("start when not installed: %v", err)
	}
}

func TestServiceInstallUser(t *testing.T) {
	f, cfg, calls := serviceEnv(t)
	keyring.Set(secret.KeyringService, "op_cmdtest", testSecret)
	ctx := context.Background()
	if err := runService(ctx, []string{"install", "--user", "-c", cfg}, f.io()); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, calls(), "--user daemon-reload", "--user enable pin-clientd.service")
	unitPath := filepath.Join(f.env["HOME"], ".config", "systemd", "user", "pin-clientd.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "WantedBy=default.target\n") || strings.Contains(string(unit), "PIN_SECRET_FILE") ||
		!strings.Contains(string(unit), "-n 1 --grace 10s\n") {
		t.Errorf("user unit:\n%s", unit)
	}
	if fileExists(filepath.Join(systemRoot, "etc", "pin-client", "pin-clientd.secret")) {
		t.Error("a user install wrote the system secret file")
	}
	if !strings.Contains(f.stdout.String(), "finds the API secret in the OS keyring") || !strings.Contains(f.stdout.String(), "enable-linger") {
		t.Errorf("output:\n%s", f.stdout.String())
	}
	// Without --user the commands find the user service when it is the only one.
	if err := runService(ctx, []string{"restart"}, f.io()); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, calls(), "--user restart pin-clientd.service")
	if err := runService(ctx, []string{"uninstall"}, f.io()); err != nil {
		t.Fatal(err)
	}
	if fileExists(unitPath) {
		t.Error("user unit left behind")
	}
	f.assertNoSecret(t)
}

func TestServiceInstallSecretSources(t *testing.T) {
	t.Run("no secret, no terminal", func(t *testing.T) {
		f, cfg, _ := serviceEnv(t)
		if err := runService(context.Background(), []string{"install", "-c", cfg}, f.io()); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.stderr.String(), "sudo pin-clientd secret set --system") {
			t.Errorf("no guidance: %q", f.stderr.String())
		}
	})
	t.Run("no secret, typed at the prompt", func(t *testing.T) {
		f, cfg, _ := serviceEnv(t)
		f.terminal, f.password = true, testSecret
		if err := runService(context.Background(), []string{"install", "-c", cfg}, f.io()); err != nil {
			t.Fatal(err)
		}
		sec, err := secret.ReadFile(filepath.Join(systemRoot, "etc", "pin-client", "pin-clientd.secret"))
		if err != nil || sec.Reveal() != testSecret {
			t.Fatalf("typed secret not stored: %v", err)
		}
		if !strings.Contains(f.stdout.String(), "from what you typed") {
			t.Errorf("output:\n%s", f.stdout.String())
		}
		f.assertNoSecret(t)
	})
	t.Run("apiSecret in config", func(t *testing.T) {
		f, cfg, _ := serviceEnv(t)
		writeConfig(t, cfg, testSecret)
		if err := runService(context.Background(), []string{"install", "-c", cfg}, f.io()); err != nil {
			t.Fatal(err)
		}
		if fileExists(filepath.Join(systemRoot, "etc", "pin-client", "pin-clientd.secret")) {
			t.Error("secret copied although the config has it")
		}
		if !strings.Contains(f.stdout.String(), "reads the API secret from apiSecret") {
			t.Errorf("output:\n%s", f.stdout.String())
		}
		f.assertNoSecret(t)
	})
}

func TestServiceInstallRefusals(t *testing.T) {
	f, cfg, calls := serviceEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"clientId":"op_1","nodes":[{"alias":"a","inferenceUri":"http://localhost:1","apiMode":"olama","region":"global","capacity":1}]}`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "-c", bad}, `nodes[0].apiMode: "olama" is not a known API mode`},
		{[]string{"install", "-c", cfg, "-n", "0"}, "-n/--threads: 0 is below 1"},
		{[]string{"install", "-c", cfg, "--grace", "0s"}, "--grace"},
		{[]string{"install", "-c", filepath.Join(t.TempDir(), "missing.json")}, "no such file"},
		{[]string{"install", "extra"}, "unexpected argument"},
		{[]string{"frobnicate"}, "unknown action"},
		{nil, "missing action"},
	} {
		err := runService(context.Background(), tc.args, f.io())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if c := calls(); len(c) != 0 {
		t.Errorf("systemctl called for refused installs: %q", c)
	}
	if fileExists(filepath.Join(systemRoot, "etc", "systemd", "system", "pin-clientd.service")) {
		t.Error("a unit was written")
	}
	if err := runService(context.Background(), []string{"-h"}, f.io()); err != nil {
		t.Error(err)
	}
}

func TestServiceRun(t *testing.T) {
	old := serviceDaemon
	t.Cleanup(func() { serviceDaemon = old })
	var gotArgs []string
	started := make(chan struct{})
	serviceDaemon = func(ctx context.Context, args []string, io cmdIO, _ string) error {
		gotArgs = args
		close(started)
		if io.IsTerminal() {
			t.Error("the service sees a terminal")
		}
		<-ctx.Done() // runs until the manager (here: the context) stops it
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	f := &fakeIO{env: map[string]string{}}
	args := []string{"-c", "/etc/pin/config.json", "-n", "2", "--grace", "1s"}
	if err := runService(ctx, append([]string{"run"}, args...), f.io()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotArgs, " ") != strings.Join(args, " ") {
		t.Errorf("daemon args %q", gotArgs)
	}
	if err := runService(context.Background(), []string{"run", "--bogus"}, f.io()); err == nil {
		t.Error("bad flag accepted")
	}
	serviceDaemon = func(context.Context, []string, cmdIO, string) error { return errors.New("config: broken") }
	if err := runService(context.Background(), []string{"run"}, f.io()); err == nil || err.Error() != "config: broken" {
		t.Errorf("daemon failure not returned: %v", err)
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestServiceInstallStartOutput is the desktop app's elevated run on Windows, here
// through systemd: install --start starts the service, and --output gets everything the
// command printed and its error, without asking anything on a terminal.
func TestServiceInstallStartOutput(t *testing.T) {
	f, cfg, calls := serviceEnv(t)
	f.terminal = true
	f.stdin = strings.NewReader(string(testSecret) + "\n") // must not be read
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(out, []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runService(ctx, []string{"install", "-c", cfg, "--start", "--output", out}, f.io()); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, calls(), "daemon-reload", "enable pin-clientd.service", "start pin-clientd.service")
	got, _ := os.ReadFile(out)
	for _, want := range []string{"Installed the systemd (system) service", "no API secret found", "Started the systemd (system) service."} {
		if !strings.Contains(string(got), want) {
			t.Errorf("--output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "stale") || strings.Contains(string(got), "Start it now") {
		t.Errorf("--output:\n%s", got)
	}
	if fileExists(filepath.Join(systemRoot, "etc", "pin-client", "pin-clientd.secret")) {
		t.Error("--output read a secret from the terminal")
	}

	// A failure lands in the file too, as the last line.
	err := runService(ctx, []string{"install", "-c", cfg, "--output", out}, f.io())
	if err == nil {
		t.Fatal("second install: no error")
	}
	got, _ = os.ReadFile(out)
	if last := strings.TrimSpace(string(got)); !strings.HasSuffix(last, "pin-clientd: "+err.Error()) {
		t.Errorf("--output after a failure:\n%s", got)
	}
	if err := runService(ctx, []string{"uninstall", "--output", out}, f.io()); err != nil {
		t.Fatal(err)
	}
	if got, _ = os.ReadFile(out); !strings.HasPrefix(string(got), "Uninstalled the systemd (system) service.") {
		t.Errorf("uninstall --output:\n%s", got)
	}
	if err := runService(ctx, []string{"status", "--output", filepath.Join(t.TempDir(), "no", "dir")}, f.io()); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("unwritable --output: %v", err)
	}
	f.assertNoSecret(t)
}
