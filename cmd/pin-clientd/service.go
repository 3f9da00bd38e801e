package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	stdio "io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/installer"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/logging"
	"github.com/pin-client/pin-client/internal/secret"
)

func init() {
	subcommands["service"] = subcommand{run: runService, summary: "run pin-clientd as an OS service: install [--user] | uninstall | start | stop | restart | status"}
}

// stopMargin is added to the drain grace for the service manager's stop deadline, so a
// drain that uses its whole grace still exits cleanly before the manager kills it.
const stopMargin = 5 * time.Second

// Test hooks.
var (
	// executable is the absolute, symlink-free path of this binary, for ExecStart.
	executable = func() (string, error) {
		p, err := os.Executable()
		if err != nil {
			return "", err
		}
		return filepath.EvalSymlinks(p)
	}
	// serviceDaemon is what `service run` runs under the service manager; scope is
	// control.ScopeUser for a user service (`service run --user`), else ScopeSystem.
	serviceDaemon = func(ctx context.Context, args []string, io cmdIO, scope string) error {
		return runEngine(ctx, args, io, control.KindService, scope)
	}
)

const serviceUsage = `Usage:
  pin-clientd service install [--user] [-c config.json] [-n N] [--grace 10s] [-l level] [--start]
  pin-clientd service uninstall | start | stop | restart | status [--user]
  (every action also takes --output FILE)

install registers pin-clientd with the OS service manager (systemd, launchd, Windows
service), started at boot (or, with --user, at your login: systemd --user, LaunchAgent),
restarted 10 s after a failure. The config path is stored as an absolute path; -n and
--grace are carried into the service's command line. A system service cannot reach your
keyring, so install copies your API secret once into a file only root/Administrators can
read; uninstall removes the service and that file. Without --user, the other commands
use the system service, or the user service when only that one is installed.
install --start starts the service once installed. --output FILE runs without asking
anything and copies what the command prints, and its error, into FILE: the desktop app
uses it for the run it elevates through the Windows UAC prompt, whose window is hidden.
`

type serviceFlags struct {
	user     bool
	config   string
	threads  int
	grace    time.Duration
	logLevel string
	start    bool   // install: start the service once installed
	output   string // also write the output and the error here; never ask
}

func runService(ctx context.Context, args []string, io cmdIO) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(io.Stdout, serviceUsage)
		if len(args) == 0 {
			return errors.New("service: missing action; use install, uninstall, start, stop, restart or status")
		}
		return nil
	}
	action, args := args[0], args[1:]
	if action == "run" {
		return serviceRun(ctx, args, io)
	}
	var f serviceFlags
	fs := flag.NewFlagSet("pin-clientd service "+action, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() { fmt.Fprint(io.Stderr, serviceUsage) }
	fs.BoolVar(&f.user, "user", false, "a per-user service (systemd --user, LaunchAgent)")
	fs.StringVar(&f.output, "output", "", "also write the output and the error to this file, and never ask (the app's elevated run)")
	if action == "install" {
		for _, n := range []string{"c", "config"} {
			fs.StringVar(&f.config, n, "config.json", "config file")
		}
		for _, n := range []string{"n", "threads"} {
			fs.IntVar(&f.threads, n, 1, "jobs run at once")
		}
		fs.DurationVar(&f.grace, "grace", core.DefaultGrace, "drain time on stop")
		for _, n := range []string{"l", "log-level"} {
			fs.StringVar(&f.logLevel, n, "", "log level of the service")
		}
		fs.BoolVar(&f.start, "start", false, "start the service once installed")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("service %s: unexpected argument %q; run `pin-clientd service -h`", action, fs.Arg(0))
	}
	if f.output == "" {
		return serviceAction(action, f, io)
	}
	out, err := os.OpenFile(f.output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("service %s: --output: %w", action, err)
	}
	oio := io
	oio.Stdout, oio.Stderr = stdio.MultiWriter(io.Stdout, out), stdio.MultiWriter(io.Stderr, out)
	oio.Stdin = strings.NewReader("")
	oio.IsTerminal = func() bool { return false }
	err = serviceAction(action, f, oio)
	if err != nil {
		fmt.Fprintln(out, "pin-clientd:", err)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("service %s: --output: %w", action, cerr)
	}
	return err
}

func serviceAction(action string, f serviceFlags, io cmdIO) error {
	switch action {
	case "install":
		return serviceInstall(f, io)
	case "uninstall", "start", "stop", "restart", "status":
		return serviceControl(action, f, io)
	}
	return fmt.Errorf("service: unknown action %q; use install, uninstall, start, stop, restart or status", action)
}

// serviceOptions are the installer options for this binary; user selects the unit kind.
func serviceOptions(user bool, io cmdIO) installer.Options {
	return installer.Options{
		Name:        installer.ServiceName,
		DisplayName: "PIN Client",
		Description: "PIN Client relay daemon (pin-clientd)",
		User:        user,
		Root:        systemRoot,
		Home:        io.Env("HOME"),
		Getenv:      io.Env,
	}
}

// credentialConfig is the systemd credential carrying config.json to the system unit.
const credentialConfig = "config.json"

// envConfigSource names, for a service that reads its config as a systemd credential
// (a copy taken at start), the file that copy comes from.
const envConfigSource = "PIN_CONFIG_SOURCE"

// serviceSecretFile is the system service's secret file as the service sees it (no
// systemRoot prefix: that is only where this process writes it).
func serviceSecretFile(io cmdIO) string {
	return filepath.Join(secret.SystemDir(io.Env), secret.ServiceFileName)
}

func serviceInstall(f serviceFlags, io cmdIO) error {
	if err := config.ValidateThreads(f.threads); err != nil {
		return err
	}
	if f.grace <= 0 {
		return fmt.Errorf("--grace: %v is not positive; use e.g. 10s", f.grace)
	}
	cfgPath, err := filepath.Abs(f.config)
	if err != nil {
		return fmt.Errorf("service install: config path: %w", err)
	}
	cfg, warnings, err := config.Load(cfgPath, nil)
	if err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	for _, w := range warnings {
		fmt.Fprintln(io.Stderr, "warning:", w)
	}
	exe, err := executable()
	if err != nil {
		return fmt.Errorf("service install: path of this program: %w", err)
	}
	o := serviceOptions(f.user, io)
	o.Executable = exe
	o.Arguments = []string{"service", "run"}
	if f.user {
		o.Arguments = append(o.Arguments, "--user")
	}
	o.Arguments = append(o.Arguments, "-c", cfgPath, "-n", strconv.Itoa(f.threads), "--grace", f.grace.String())
	if f.logLevel != "" {
		o.Arguments = append(o.Arguments, "-l", f.logLevel)
	}
	o.WorkingDirectory = filepath.Dir(cfgPath)
	o.StopTimeout = f.grace + stopMargin
	switch {
	case !f.user && runtime.GOOS == "linux":
		// The sandboxed system unit (dynamic user, /home hidden) gets the config and the
		// secret file as systemd credentials: systemd reads them as root and hands the
		// service owner-only copies, so a config in a home folder or readable only by
		// root works. The copies are taken at each start: restart after editing.
		o.Arguments = []string{"service", "run", "-n", strconv.Itoa(f.threads), "--grace", f.grace.String()}
		if f.logLevel != "" {
			o.Arguments = append(o.Arguments, "-l", f.logLevel)
		}
		o.RawArguments = []string{"-c", "%d/" + credentialConfig}
		o.WorkingDirectory = ""
		o.Credentials = []installer.Credential{{Name: credentialConfig, Path: cfgPath}}
		// Where the credential comes from: shown by status and the app, re-read by
		// `pin-clientd reload` when the sandbox lets the service read it.
		o.Env = map[string]string{envConfigSource: cfgPath}
		if cfg.APISecret == "" {
			o.Credentials = append(o.Credentials, installer.Credential{Name: secret.CredentialName, Path: serviceSecretFile(io)})
		}
	case !f.user:
		o.Env = map[string]string{secret.EnvSecretFile: serviceSecretFile(io)}
	}
	m, err := installer.New(o)
	if err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	if err := m.Install(); err != nil {
		if errors.Is(err, installer.ErrInstalled) {
			return fmt.Errorf("service install: %w; to change it, run `pin-clientd service uninstall%s` first", err, userFlag(f.user))
		}
		return fmt.Errorf("service install: %w", adminHint(err, f.user))
	}
	where := m.Path()
	if where == "" {
		where = installer.ServiceName
	}
	fmt.Fprintf(io.Stdout, "Installed the %s service %s (config %s, -n %d).\n", m.Platform(), where, cfgPath, f.threads)
	if f.user {
		userServiceSecret(cfg, cfgPath, io)
	} else if err := systemServiceSecret(cfg, cfgPath, io); err != nil {
		return err
	}
	if f.start {
		if err := m.Start(); err != nil {
			return fmt.Errorf("service install: installed, but starting it failed: %w", adminHint(err, f.user))
		}
		fmt.Fprintf(io.Stdout, "Started the %s service.\n", m.Platform())
	} else {
		fmt.Fprintf(io.Stdout, "Start it now with: pin-clientd service start%s\n", userFlag(f.user))
	}
	if f.user && runtime.GOOS == "linux" {
		fmt.Fprintln(io.Stdout, "It starts when you log in; to keep it running while you are logged out: loginctl enable-linger $USER")
	}
	return nil
}

// systemServiceSecret gives a system service its secret: a system service has no user
// session and so no keyring. The installing user's secret is copied once into the
// owner-only service file; apiSecret in the config needs nothing.
func systemServiceSecret(cfg *config.Config, cfgPath string, io cmdIO) error {
	log := slog.New(logging.New(io.Stderr, slog.LevelWarn, true))
	store := newSecretStore(io, log)
	dst := store.ServiceFile()
	sec, src, err := store.Lookup(secret.Query{ClientID: cfg.ClientID, ConfigSecret: cfg.APISecret, ConfigPath: cfgPath})
	switch {
	case err == nil && src.Kind == secret.FromConfig:
		fmt.Fprintf(io.Stdout, "The service reads the API secret from apiSecret in %s; keep that file readable only by root (chmod 600).\n", cfgPath)
		return nil
	case err == nil && src.Kind == secret.FromFile && src.Path == dst:
		fmt.Fprintf(io.Stdout, "The service uses the existing secret file %s.\n", serviceSecretFile(io))
		return nil
	case err != nil && !errors.Is(err, secret.ErrNotFound):
		return fmt.Errorf("service install: find the API secret: %w", err)
	case err != nil:
		// Under sudo the keyring of the user who typed the command is out of reach.
		if io.IsTerminal == nil || !io.IsTerminal() {
			fmt.Fprintf(io.Stderr, "warning: no API secret found for %s; the service cannot sign in until you run: sudo pin-clientd secret set --system -c %s\n", cfg.ClientID, cfgPath)
			return nil
		}
		fmt.Fprintf(io.Stderr, "No API secret for %s is readable here (a keyring is per user). Enter it for the service, or press Enter to skip.\n", cfg.ClientID)
		s, rerr := readSecret(io, cfg.ClientID)
		if rerr != nil {
			fmt.Fprintf(io.Stderr, "warning: skipped; the service cannot sign in until you run: sudo pin-clientd secret set --system -c %s\n", cfgPath)
			return nil
		}
		sec, src = s, secret.Source{}
	}
	if err := secret.WriteFile(dst, sec); err != nil {
		return fmt.Errorf("service install: write the service's secret file: %w", adminHint(err, false))
	}
	from := "what you typed"
	if src.Kind != "" {
		from = src.String()
	}
	fmt.Fprintf(io.Stdout, "Copied the API secret (from %s) to %s, readable only by root/Administrators, for the service.\n", from, serviceSecretFile(io))
	fmt.Fprintln(io.Stdout, "This is a one-time copy: after changing the secret, run `sudo pin-clientd secret set --system`. `pin-clientd service uninstall` removes the file.")
	return nil
}

// userServiceSecret tells where a user service will find the secret: it runs as the
// installing user, so the keyring and the per-user file are its own.
func userServiceSecret(cfg *config.Config, cfgPath string, io cmdIO) {
	store := newSecretStore(io, slog.New(logging.New(io.Stderr, slog.LevelWarn, true)))
	_, src, err := store.Lookup(secret.Query{ClientID: cfg.ClientID, ConfigSecret: cfg.APISecret, ConfigPath: cfgPath})
	switch {
	case err != nil:
		fmt.Fprintf(io.Stderr, "warning: no API secret found for %s; store it with: pin-clientd secret set -c %s\n", cfg.ClientID, cfgPath)
	case src.Kind == secret.FromEnv:
		fmt.Fprintf(io.Stderr, "warning: %s is set in this shell but the service will not see it; store the secret with: pin-clientd secret set -c %s\n", secret.EnvSecret, cfgPath)
	default:
		fmt.Fprintf(io.Stdout, "The service runs as you and finds the API secret in the %s.\n", src)
	}
}

// pickManager returns the manager for an installed service: the user one with --user;
// without it the system one, or the user one when only that is installed.
func pickManager(user bool, io cmdIO) (installer.Manager, bool, error) {
	return installer.Find(serviceOptions(user, io))
}

func serviceControl(action string, f serviceFlags, io cmdIO) error {
	m, user, err := pickManager(f.user, io)
	if err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	notInstalled := func(err error) error {
		if errors.Is(err, installer.ErrNotInstalled) {
			return fmt.Errorf("service %s: pin-clientd is not installed as a%s service; install it with `pin-clientd service install%s`", action, map[bool]string{true: " user", false: " system"}[user], userFlag(user))
		}
		return fmt.Errorf("service %s: %w", action, adminHint(err, user))
	}
	switch action {
	case "uninstall":
		if err := m.Uninstall(); err != nil {
			return notInstalled(err)
		}
		fmt.Fprintf(io.Stdout, "Uninstalled the %s service.\n", m.Platform())
		if !user {
			p := newSecretStore(io, nil).ServiceFile()
			ok, err := secret.DeleteFile(p)
			if err != nil {
				return fmt.Errorf("service uninstall: %w", adminHint(err, false))
			}
			if ok {
				fmt.Fprintf(io.Stdout, "Removed the service's secret file %s.\n", serviceSecretFile(io))
			}
		}
		return nil
	case "start", "stop", "restart":
		call := map[string]func() error{"start": m.Start, "stop": m.Stop, "restart": m.Restart}[action]
		if err := call(); err != nil {
			return notInstalled(err)
		}
		fmt.Fprintf(io.Stdout, "%s the %s service.\n", map[string]string{"start": "Started", "stop": "Stopped", "restart": "Restarted"}[action], m.Platform())
		return nil
	}
	st, err := m.Status()
	fmt.Fprintf(io.Stdout, "service:  %s (%s)\n", st, m.Platform())
	if st == installer.StatusNotInstalled {
		return nil
	}
	if m.Path() != "" {
		fmt.Fprintf(io.Stdout, "unit:     %s\n", m.Path())
	}
	if user {
		fmt.Fprintln(io.Stdout, "secret:   your own (keyring or per-user file); see `pin-clientd secret status`")
	} else {
		state := "absent: the service uses apiSecret from its config, or cannot sign in"
		if fileExists(newSecretStore(io, nil).ServiceFile()) {
			state = "present"
		}
		fmt.Fprintf(io.Stdout, "secret:   %s (%s)\n", serviceSecretFile(io), state)
	}
	fmt.Fprintf(io.Stdout, "logs:     %s\n", logHint(user, m.Path()))
	if err != nil {
		return fmt.Errorf("service status: %w", err)
	}
	return nil
}

func logHint(user bool, path string) string {
	switch runtime.GOOS {
	case "linux":
		if user {
			return "journalctl --user-unit " + installer.ServiceName + " -f"
		}
		return "journalctl -u " + installer.ServiceName + " -f"
	case "darwin":
		if user {
			return "~/Library/Logs/" + installer.ServiceName + ".err.log"
		}
		return "/var/log/" + installer.ServiceName + ".err.log"
	case "windows":
		return "Event Viewer > Windows Logs > Application, source " + installer.ServiceName
	}
	return path
}

// serviceRun is what the installed unit runs: the daemon under the service manager.
// Start returns at once (Windows error 1053 otherwise); a stop cancels the daemon's
// context and waits for its drain (--grace) plus a margin.
func serviceRun(ctx context.Context, args []string, io cmdIO) error {
	scope := control.ScopeSystem
	if len(args) > 0 && (args[0] == "--user" || args[0] == "-user") {
		scope, args = control.ScopeUser, args[1:]
	}
	var df daemonFlags
	fs := flag.NewFlagSet("pin-clientd service run", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	df.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := installer.NewRunner(installer.RunOptions{Name: installer.ServiceName, StopTimeout: df.grace + stopMargin})
	if err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	dio := io
	if w := r.LogWriter(); w != nil {
		dio.Stdout, dio.Stderr = w, w
	}
	dio.Stdin = strings.NewReader("")
	dio.IsTerminal = func() bool { return false }
	return r.Run(ctx, func(ctx context.Context) error { return serviceDaemon(ctx, args, dio, scope) })
}

func userFlag(user bool) string {
	if user {
		return " --user"
	}
	return ""
}

// adminHint adds the fix to a permission error.
func adminHint(err error, user bool) error {
	if !errors.Is(err, os.ErrPermission) && !strings.Contains(strings.ToLower(err.Error()), "access is denied") {
		return err
	}
	if user || runtime.GOOS == "windows" {
		return fmt.Errorf("%w; run it as Administrator", err)
	}
	return fmt.Errorf("%w; run it with sudo, or install a user service with --user", err)
}
