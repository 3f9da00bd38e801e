package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2/dialog"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
)

// installTimeout bounds the installer, including an elevation prompt left open.
const installTimeout = 5 * time.Minute

// installService asks for confirmation, then installs the background service. UI thread.
func (u *UI) installService() {
	if u.opts.Installer == nil || u.cfg == nil {
		return
	}
	msg := "The background service runs your node without this window, also after logout and reboot.\n\n" +
		"Only one engine may serve your operator account at a time, so this app stops its own engine first: " +
		"running jobs finish, then it disconnects. You may be asked for your password."
	d := dialog.NewConfirm("Install background service", msg, func(ok bool) {
		if ok {
			u.doInstall()
		}
	}, u.win)
	d.SetConfirmText("Install")
	d.Show()
	u.win.Show()
}

// doInstall drains and stops the in-process engine, then runs the installer off the UI
// thread and reports the outcome. UI thread.
func (u *UI) doInstall() {
	u.fa.Preferences().SetBool(prefWantOnline, false)
	u.stopEngine(func() {
		u.apply(core.Status{State: core.StateOffline})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
			defer cancel()
			what, err := u.opts.Installer.Install(ctx, u.configPath(), u.cfg)
			u.do(func() {
				if err != nil {
					u.showError(err)
					return
				}
				u.showInfo("Background service installed",
					what+"\n\nThe service now serves your nodes; this app's own engine stays offline. "+
						"Use Go online here only after stopping the service.")
			})
		}()
	})
}

// DaemonInstaller installs the background service by running the daemon's own command,
// `pin-clientd service install --user`, then `service start --user`: the daemon's
// installer package writes the unit (systemd --user, LaunchAgent) and handles the secret
// for it. A user service needs no elevation and reads the same keyring as this app, so
// the app prefers it to a system service; on Windows, which has no user services, the
// error names the elevated command to run instead.
// The service runs as many jobs at once (-n) as the nodes' capacities add up to, as the
// app's own engine does.
type DaemonInstaller struct {
	Daemon string // path of pin-clientd; "": next to this app, then $PATH
}

// Install implements ServiceInstaller.
func (d DaemonInstaller) Install(ctx context.Context, configPath string, cfg *config.Config) (string, error) {
	daemon := d.Daemon
	if daemon == "" {
		var err error
		if daemon, err = findDaemon(); err != nil {
			return "", err
		}
	}
	if runtime.GOOS == "windows" {
		return "", fmt.Errorf("install the service from an Administrator prompt: %q service install -c %q", daemon, configPath)
	}
	install := []string{"service", "install", "--user", "-c", configPath, "-n", strconv.Itoa(threads(cfg))}
	out, err := exec.CommandContext(ctx, daemon, install...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %s", strings.Join(append([]string{"pin-clientd"}, install...), " "), lastLine(out, err))
	}
	start := []string{"service", "start", "--user"}
	if sout, err := exec.CommandContext(ctx, daemon, start...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("installed, but pin-clientd service start --user: %s", lastLine(sout, err))
	}
	return firstLine(out) + " Started.", nil
}

// findDaemon looks for pin-clientd next to this executable, then in $PATH.
func findDaemon() (string, error) {
	name := "pin-clientd"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", errors.New("pin-clientd was not found next to this app or in PATH; install the daemon (make build-daemon) and try again")
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// lastLine is the command's last output line (its error message), or err.
func lastLine(b []byte, err error) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return err.Error()
	}
	return s
}
