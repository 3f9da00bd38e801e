package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/demo"
)

func init() {
	subcommands["demo"] = subcommand{run: runDemo, summary: "try it without an account: a local gateway, a backend and consumer requests, all in this process"}
}

// demoFlags are `pin-clientd demo`'s flags.
type demoFlags struct {
	duration time.Duration
	interval time.Duration
	builtIn  bool
	level    string
	// tokenDelay is the built-in backend's pace (hidden; tests set it negative).
	tokenDelay time.Duration
}

// runDemo is `pin-clientd demo [--duration 1m] [--interval 3s] [--builtin] [-l warn]`:
// the local gateway, a backend (detected, or the built-in one) and a relay engine, all
// in this process, with a consumer sending requests; a live log of the jobs on stdout,
// a summary on exit. Ctrl-C or --duration ends it.
func runDemo(ctx context.Context, args []string, io cmdIO) error {
	var f demoFlags
	fs := flag.NewFlagSet("pin-clientd demo", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long, e.g. 1m (default: until Ctrl-C)")
	fs.DurationVar(&f.interval, "interval", demo.DefaultInterval, "time between rounds of consumer requests")
	fs.BoolVar(&f.builtIn, "builtin", false, "use the built-in demo backend even when a local LLM server is found")
	for _, n := range []string{"l", "log-level"} {
		fs.StringVar(&f.level, n, "warn", "engine log level on stderr: trace|debug|info|warn|error")
	}
	fs.DurationVar(&f.tokenDelay, "token-delay", 0, "the built-in backend's time per token (default 33ms)")
	fs.Usage = func() {
		fmt.Fprint(io.Stderr, `Usage: pin-clientd demo [--duration 1m] [--interval 3s] [--builtin] [-l warn]

Shows what a PIN node does without a PIN account: starts a local gateway in this process,
connects the relay engine to it with throwaway credentials, serves from the local LLM
server detection finds (or the built-in demo backend, which is not a real model), and
sends a few consumer requests every few seconds. Prints each job as it is served and a
summary on exit. Never touches the real gateway, the keyring or your config file.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd demo -h`", fs.Arg(0))
	}
	if f.duration < 0 {
		return fmt.Errorf("--duration %s is negative; use e.g. 1m, or leave it out to run until Ctrl-C", f.duration)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval %s: use a positive duration, e.g. 3s", f.interval)
	}
	log, err := newLogger(io, f.level)
	if err != nil {
		return err
	}
	return demoRun(ctx, f, io.Stdout, log)
}

// demoRun runs the demo until ctx ends or f.duration passes.
func demoRun(ctx context.Context, f demoFlags, w io.Writer, log *slog.Logger) error {
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	out := &lockedWriter{w: w}
	out.printf("PIN Client %s\n", demo.Banner)
	if !f.builtIn {
		out.printf("looking for a local LLM server…\n")
	}
	d, err := demo.Start(ctx, demo.Options{BuiltIn: f.builtIn, TokenDelay: f.tokenDelay})
	if err != nil {
		return err
	}
	defer d.Close()
	out.printf("backend:  %s\n", d.Backend)
	out.printf("gateway:  %s (in this process; operator %s, throwaway secret in memory)\n", d.Gateway.HTTPURL(), d.Config.ClientID)
	if f.duration > 0 {
		out.printf("running for %s; Ctrl-C stops it sooner\n\n", f.duration)
	} else {
		out.printf("Ctrl-C stops it\n\n")
	}

	eng, err := core.New(d.EngineOptions(log))
	if err != nil {
		return fmt.Errorf("demo engine: %w", err)
	}
	engCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()

	// The engine's state changes and interviews, in words.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchEngine(watchCtx, eng, out)
	}()

	start := time.Now()
	err = d.RunConsumers(ctx, f.interval, func(r demo.JobReport) {
		if r.Err != nil {
			out.printf("job %-3d failed after %.1f s: %v\n", r.N, r.Took.Seconds(), r.Err)
			return
		}
		rate := ""
		if s := r.Took.Seconds(); s > 0 {
			rate = fmt.Sprintf(", %.0f tok/s", float64(r.Tokens)/s)
		}
		out.printf("job %-3d served: %3d tokens in %4.1f s%s  %q → %q\n", r.N, r.Tokens, r.Took.Seconds(), rate, trim(r.Prompt, 40), trim(r.Answer, 36))
	})
	stopWatch()
	<-watched
	stopEngine() // drain: running jobs finish within the grace
	runErr := <-engDone
	st := eng.Status()
	cs := d.Stats()
	stopped := ""
	if cs.Stopped > 0 {
		stopped = fmt.Sprintf(", %d cut off by the stop", cs.Stopped)
	}
	out.printf("\ndemo summary (%s): %d requests sent, %d answered, %d failed%s; the node served %d jobs, %d tokens, estimated earnings $%.6f at $%g per 1K tokens (demo: nothing was earned)\n",
		time.Since(start).Round(time.Second), cs.Sent, cs.Answered, cs.Failed, stopped, st.Served, st.Tokens, st.Earnings, demo.Price)
	if err != nil {
		return err
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("demo engine: %w", runErr)
	}
	return nil
}

// watchEngine prints the engine's state changes and each node's interview result.
func watchEngine(ctx context.Context, eng *core.Engine, out *lockedWriter) {
	var state core.State
	tiers := map[string]string{}
	for st := range eng.Subscribe(ctx) {
		if st.State != state {
			state = st.State
			line := "engine:   " + st.State.String()
			if st.LastError != "" {
				line += " (" + st.LastError + ")"
			}
			out.printf("%s\n", line)
		}
		for _, n := range st.Nodes {
			if n.Tier != "" && tiers[n.Alias] != n.Tier {
				tiers[n.Alias] = n.Tier
				out.printf("node %s: interviewed by the gateway: tier %s (%.0f%% correct, %.0f tok/s)\n", n.Alias, n.Tier, n.Accuracy, n.TokensPerSec)
			}
		}
	}
}

// lockedWriter serialises lines from the job goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// trim shortens s to n runes on one line.
func trim(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
