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

	"github.com/pin-client/pin-client/app/present"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/installer"
	"github.com/pin-client/pin-client/internal/config"
)

// installTimeout bounds the installer, including an elevation prompt left open.
const installTimeout = 5 * time.Minute

// installService asks for confirmation, then hands the app's engine over to a newly
// installed background service. UI thread.
func (u *UI) installService() {
	if u.opts.Installer == nil || u.cfg == nil {
		return
	}
	msg := "The background service runs your nodes without this window, also after logout and reboot. " +
		"This app then shows and drives it: the tray toggle, Reconnect now and Settings act on the service.\n\n" +
		"Only one engine may serve your operator account at a time, so this app hands over: " +
		"its running jobs finish, it stops its own engine, then the service starts and connects. " +
		"You may be asked for your password."
	if !installer.UserServices() {
		msg = strings.TrimSuffix(msg, "You may be asked for your password.") +
			"Windows asks for an administrator's permission (the UAC prompt): the service is a system service."
	}
	d := dialog.NewConfirm("Install background service", msg, func(ok bool) {
		if ok {
			u.doInstall()
		}
	}, u.win)
	d.SetConfirmText("Install")
	d.Show()
	u.win.Show()
}

// doInstall hands over to the background service without losing a job: the app's own
// engine goes offline (running jobs finish) and stops, which releases the one-engine
// lock; then the service is installed and started, and the app attaches to it once its
// control API answers. If installing fails the app's engine starts again as it was.
// UI thread.
func (u *UI) doInstall() {
	if u.opts.Installer == nil || u.cfg == nil || u.switching != "" || u.remote != nil {
		return
	}
	cfg, path, wait := u.cfg, u.configPath(), u.handoffWait
	wasOnline := u.eng != nil && u.last.State != core.StateOffline
	// The service serves from now on; the app's own engine starts offline if it ever
	// runs again (the service stopped by hand), unless the service is removed from here.
	u.fa.Preferences().SetBool(prefWantOnline, false)
	u.switching = "handing over to the background service: finishing running jobs…"
	if r := u.eng; r != nil {
		r.eng.GoOffline()
	}
	u.render()
	u.stopEngine(func() {
		u.switching = "installing the background service…"
		u.render()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
			what, err := u.opts.Installer.Install(ctx, path, cfg)
			cancel()
			if err != nil {
				u.do(func() {
					u.switching = ""
					u.fa.Preferences().SetBool(prefWantOnline, wasOnline)
					u.showError(err)
					u.find(wasOnline, true)
				})
				return
			}
			u.do(func() {
				u.svcInstalled = true
				u.switching = "waiting for the background service to start…"
				u.render()
			})
			f, err := u.waitForEngine(cfg, wait)
			u.do(func() {
				u.switching = ""
				if u.quitting || u.eng != nil || u.remote != nil {
					u.render()
					return
				}
				if err != nil {
					u.showError(fmt.Errorf("%s But the service %w; %s", what, err, serviceCheckHint()))
					u.find(false, true)
					return
				}
				u.attach(f)
				u.showInfo("Background service installed", what+
					"\n\nThe service now serves your nodes, also when this app is closed. The dashboard and the tray show and drive it.")
			})
		}()
	})
}

// removeService asks for confirmation, then removes the background service and lets the
// app run the engine again. UI thread.
func (u *UI) removeService() {
	if u.opts.Installer == nil {
		return
	}
	msg := "The background service stops (its running jobs finish first) and is removed, so your nodes are no longer served after logout or reboot.\n\n" +
		"This app then runs the engine itself, online if the service was online."
	d := dialog.NewConfirm("Remove background service", msg, func(ok bool) {
		if ok {
			u.doRemove()
		}
	}, u.win)
	d.SetConfirmText("Remove")
	d.Show()
	u.win.Show()
}

// doRemove stops and uninstalls the background service, then the app runs its own
// engine, online if the service was. While the service drains, the dashboard keeps
// showing it; its subscription closing (the process ended) is what starts the app's
// engine, so the two never run at once. UI thread.
func (u *UI) doRemove() {
	if u.opts.Installer == nil || u.switching != "" {
		return
	}
	a := u.remote
	ours := a != nil && a.info.Kind == present.KindService && appService(a.info.Scope)
	online := u.fa.Preferences().Bool(prefWantOnline)
	if ours {
		online = u.last.State != core.StateOffline
	}
	u.switching = "removing the background service: its running jobs finish first…"
	u.render()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
		what, err := u.opts.Installer.Uninstall(ctx)
		cancel()
		u.do(func() {
			u.switching = ""
			if err != nil {
				u.showError(err)
				u.render()
				return
			}
			u.svcInstalled = false
			u.heldRetried = false
			u.fa.Preferences().SetBool(prefWantOnline, online)
			next := "This app runs the engine itself now; it stays offline until you choose Go online."
			if online {
				next = "This app runs the engine itself now and takes your nodes online."
			}
			u.showInfo("Background service removed", what+"\n\n"+next)
			if u.remote != nil && u.remote == a && ours {
				return // remoteGone starts the app's engine once the service's process ended
			}
			u.detach()
			u.find(online, true)
		})
	}()
}

// DaemonInstaller installs the background service by running the daemon's own command,
// `pin-clientd service install --user`, then `service start --user`: the daemon's
// installer package writes the unit (systemd --user, LaunchAgent) and handles the secret
// for it. A user service needs no elevation and reads the same keyring as this app, so
// the app prefers it to a system service. Windows has no user services: there the app
// installs (and removes) the system service through the UAC prompt, in one elevated
// run of `pin-clientd.exe service install … --start` (elevate.go).
// The service runs as many jobs at once (-n) as the nodes' capacities add up to, as the
// app's own engine does.
type DaemonInstaller struct {
	Daemon string // path of pin-clientd; "": next to this app, then $PATH
}

// Installed implements ServiceInstaller: the service this app installs (the user
// service; on Windows the system service) is installed, running or not.
func (d DaemonInstaller) Installed() bool {
	m, _, err := installer.Find(installer.Options{Name: installer.ServiceName, User: installer.UserServices()})
	return err == nil && m.Installed()
}

// Uninstall implements ServiceInstaller: `pin-clientd service uninstall --user`, which
// stops the service (its running jobs finish) and removes it.
func (d DaemonInstaller) Uninstall(ctx context.Context) (string, error) {
	daemon := d.Daemon
	if daemon == "" {
		var err error
		if daemon, err = findDaemon(); err != nil {
			return "", err
		}
	}
	if !installer.UserServices() { // Windows: the system service, through the UAC prompt
		return runDaemonElevated(ctx, daemon, elevatedUninstallArgs(), "remove the background service")
	}
	args := []string{"service", "uninstall", "--user"}
	out, err := exec.CommandContext(ctx, daemon, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pin-clientd %s: %s", strings.Join(args, " "), lastLine(out, err))
	}
	return firstLine(out), nil
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
	if !installer.UserServices() { // Windows: a system service, through the UAC prompt
		what, err := runDaemonElevated(ctx, daemon, elevatedInstallArgs(configPath, cfg), "install the background service")
		if err != nil {
			return "", err
		}
		return what + " Started.", nil
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

// serviceCheckHint says how to look at the installed service and its log.
func serviceCheckHint() string {
	if !installer.UserServices() {
		return "check it with `pin-clientd service status` and its log (Event Viewer > Windows Logs > Application, source " + installer.ServiceName + ")"
	}
	return "check it with `pin-clientd service status --user` and its log (`journalctl --user -u " + installer.ServiceName + "` on Linux)"
}

// appService reports whether a background service of this scope (control.ScopeUser or
// ScopeSystem) is the kind this app installs and removes: the user service, or on
// Windows, which has no user services, the system service.
func appService(scope string) bool {
	return scope != "system" || !installer.UserServices()
}
