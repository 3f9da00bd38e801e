package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/installer"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/enginelock"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/logging"
	"github.com/pin-client/pin-client/internal/nodecheck"
	"github.com/pin-client/pin-client/internal/version"
)

// daemonFlags are the original pin-clientd flags plus --queue and --grace.
type daemonFlags struct {
	config   string
	logLevel string
	threads  int
	queue    int
	grace    time.Duration
	version  bool

	metricsAddr        string
	metricsAllowRemote bool
	controlSocket      string
}

func (f *daemonFlags) register(fs *flag.FlagSet) {
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&f.config, n, "config.json", "config file")
	}
	for _, n := range []string{"l", "log-level"} {
		fs.StringVar(&f.logLevel, n, "info", "trace|debug|info|warn|error")
	}
	for _, n := range []string{"n", "threads"} {
		fs.IntVar(&f.threads, n, 1, "jobs run at once")
	}
	fs.IntVar(&f.queue, "queue", 0, "jobs that may wait for a slot")
	fs.DurationVar(&f.grace, "grace", core.DefaultGrace, "drain time on shutdown")
	for _, n := range []string{"V", "version"} {
		fs.BoolVar(&f.version, n, false, "print the version")
	}
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics, /healthz, /readyz on this loopback address")
	fs.BoolVar(&f.metricsAllowRemote, "metrics-allow-remote", false, "allow a non-loopback --metrics-addr")
	fs.StringVar(&f.controlSocket, "control-socket", "", "control API endpoint (default: per user, or the system one for the system service)")
}

// newLogger builds the daemon logger; RUST_LOG overrides -l like the original.
func newLogger(io cmdIO, level string) (*slog.Logger, error) {
	if v := io.Env("RUST_LOG"); v != "" {
		level = v
	}
	lvl, err := logging.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("-l/--log-level: %w", err)
	}
	return slog.New(logging.New(io.Stderr, lvl, io.Env("JOURNAL_STREAM") != "")), nil
}

func runDaemon(ctx context.Context, args []string, io cmdIO) error {
	return runEngine(ctx, args, io, control.KindDaemon, control.ScopeUser)
}

// runEngine runs the relay as kind (a daemon in a terminal or the service) in scope:
// the engine lock, the control API and metrics around it (internal/host).
func runEngine(ctx context.Context, args []string, io cmdIO, kind, scope string) error {
	var f daemonFlags
	fs := flag.NewFlagSet("pin-clientd", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() { usage(io.Stderr) }
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd -h`", fs.Arg(0))
	}
	if f.version {
		fmt.Fprintln(io.Stdout, version.String())
		return nil
	}
	log, err := newLogger(io, f.logLevel)
	if err != nil {
		return err
	}
	if err := config.ValidateThreads(f.threads); err != nil {
		return err
	}
	cfgPath := f.config
	if abs, err := filepath.Abs(cfgPath); err == nil {
		cfgPath = abs
	}
	// A sandboxed system service reads its config as a systemd credential: a copy taken
	// at start. It shows, and on reload reads, the file that copy comes from.
	reloadFrom := f.config
	if src := io.Env(envConfigSource); src != "" {
		cfgPath, reloadFrom = src, src
	}
	h, err := host.New(ctx, host.Options{
		Kind: kind, Scope: scope, ConfigPath: cfgPath,
		Build: func(ctx context.Context) (core.Options, error) {
			if reloadFrom != f.config { // a reload of the service's credential copy
				fh, err := os.Open(reloadFrom)
				if err != nil {
					return core.Options{}, fmt.Errorf("the service cannot read %s from inside its sandbox (%v): restart it instead (`sudo systemctl restart %s`: systemd hands it a fresh copy; running jobs get --grace to finish)", reloadFrom, errors.Unwrap(err), installer.ServiceName)
				}
				fh.Close()
			}
			rf := f
			rf.config = reloadFrom
			return engineOptions(rf, io, log)
		},
		Socket:      f.controlSocket,
		SocketGroup: serviceGroup(scope),
		MetricsAddr: f.metricsAddr, MetricsAllowRemote: f.metricsAllowRemote,
		Logger: log,
	})
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	log.Info("pin-clientd starting", "version", version.Version, "config", f.config, "as", kind, "pid", os.Getpid())
	err = h.Run(ctx)
	var held *enginelock.HeldError
	if errors.As(err, &held) {
		log.Error("not starting: another engine serves this operator", "holder_pid", held.Holder.PID)
		return err
	}
	st := h.Status()
	log.Info("pin-clientd stopped", "served", st.Served, "failed", st.Failed, "tokens", st.Tokens)
	return err
}

// engineOptions loads the config and the secret and wires the engine's options; it
// runs at start and again on every reload.
func engineOptions(f daemonFlags, io cmdIO, log *slog.Logger) (core.Options, error) {
	cfg, _, err := config.Load(f.config, log) // warnings are logged by Load
	if errors.Is(err, fs.ErrNotExist) {
		return core.Options{}, fmt.Errorf("config file %s not found: write one with `pin-clientd init` (or copy config.example.json), or pass -c PATH", f.config)
	}
	if err != nil {
		return core.Options{}, err
	}
	sec, source, err := daemonSecret(cfg, f.config, io, log)
	if err != nil {
		return core.Options{}, err
	}
	return core.Options{
		Config: cfg, Secret: sec, SecretSource: source,
		Threads: f.threads, QueueSize: f.queue, Grace: f.grace,
		NewBackend: auto.Backend(log), NewSpeaker: auto.Speaker(log),
		CheckNode: nodecheck.For(log), Logger: log,
	}, nil
}
