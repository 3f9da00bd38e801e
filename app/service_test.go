package app

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/internal/config"
)

// fakeDaemon writes a pin-clientd stand-in that logs its arguments and exits with code
// when its first two arguments are failOn.
func fakeDaemon(t *testing.T, failOn string) (path, log string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in is a shell script")
	}
	dir := t.TempDir()
	path, log = filepath.Join(dir, "pin-clientd"), filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" >> '" + log + "'\n" +
		"if [ \"$1 $2\" = '" + failOn + "' ]; then echo 'warning: x' >&2; echo 'service install: the service is already installed' >&2; exit 1; fi\n" +
		"echo 'Installed the systemd --user service /home/u/.config/systemd/user/pin-clientd.service.'\necho 'more'\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

func TestDaemonInstaller(t *testing.T) {
	daemon, log := fakeDaemon(t, "")
	cfg := &config.Config{Nodes: []config.Node{{Capacity: 1}, {Capacity: 2}}}
	what, err := DaemonInstaller{Daemon: daemon}.Install(context.Background(), "/cfg/config.json", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if what != "Installed the systemd --user service /home/u/.config/systemd/user/pin-clientd.service. Started." {
		t.Errorf("what = %q", what)
	}
	args, _ := os.ReadFile(log)
	want := "service install --user -c /cfg/config.json -n 3\nservice start --user\n"
	if string(args) != want {
		t.Errorf("daemon ran:\n%s\nwant\n%s", args, want)
	}
}

func TestDaemonInstallerFailures(t *testing.T) {
	daemon, _ := fakeDaemon(t, "service install")
	_, err := DaemonInstaller{Daemon: daemon}.Install(context.Background(), "/c.json", &config.Config{})
	if err == nil || !strings.HasSuffix(err.Error(), ": service install: the service is already installed") ||
		!strings.HasPrefix(err.Error(), "pin-clientd service install --user -c /c.json -n 1") {
		t.Errorf("err = %v", err)
	}
	daemon, _ = fakeDaemon(t, "service start")
	_, err = DaemonInstaller{Daemon: daemon}.Install(context.Background(), "/c.json", &config.Config{})
	if err == nil || !strings.HasPrefix(err.Error(), "installed, but pin-clientd service start --user:") {
		t.Errorf("err = %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = DaemonInstaller{}.Install(context.Background(), "/c.json", &config.Config{})
	if err == nil || !strings.Contains(err.Error(), "pin-clientd was not found") {
		t.Errorf("no daemon: err = %v", err)
	}
}
