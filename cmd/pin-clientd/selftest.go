package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/selftest"
)

func init() {
	subcommands["selftest"] = subcommand{run: runSelftest, summary: "dry-run your config against a local gateway: checks, interview, TTFT, tok/s, tier (--json)"}
}

// selftestDetect tunes the backend checks (tests inject a GPU answer).
var selftestDetect = detect.Options{}

// runSelftest is `pin-clientd selftest [-c config.json] [-n N] [--json] [-l warn]`: see
// internal/selftest. It exits 1 (errSilent) when a node would fail its interview.
func runSelftest(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd selftest", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var cfgPath, level string
	var threads int
	var asJSON bool
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&cfgPath, n, "config.json", "config file")
	}
	for _, n := range []string{"n", "threads"} {
		fs.IntVar(&threads, n, 1, "jobs run at once, as you run the daemon")
	}
	for _, n := range []string{"l", "log-level"} {
		fs.StringVar(&level, n, "warn", "engine log level on stderr: trace|debug|info|warn|error")
	}
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON (progress goes to stderr)")
	fs.Usage = func() {
		fmt.Fprint(io.Stderr, `Usage: pin-clientd selftest [-c config.json] [-n N] [--json] [-l warn]

Runs your config against a PIN gateway served inside this process on 127.0.0.1, with
the real engine and adapters: checks each node's backend, warms the interview model,
runs a short graded interview and a few streaming requests, and prints per node the
accuracy, time to first token, tokens/s and the tier the published thresholds give.
Your API secret is not needed and never read. Exit status 1 if a node would fail.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd selftest -h`", fs.Arg(0))
	}
	if err := config.ValidateThreads(threads); err != nil {
		return err
	}
	log, err := newLogger(io, level)
	if err != nil {
		return err
	}
	cfg, _, err := config.Load(cfgPath, log)
	if err != nil {
		return err
	}
	cfg.APISecret = "" // not needed: the local gateway gets a throwaway credential

	progress, out := io.Stdout, io.Stdout
	if asJSON {
		progress = io.Stderr
	}
	fmt.Fprintf(progress, "selftest: %d node(s) from %s, -n %d, transport %s, against a local gateway on 127.0.0.1 (your API secret is not used)\n",
		len(cfg.Nodes), cfgPath, threads, strings.ToLower(cfg.Transport))
	rep, err := selftest.Run(ctx, selftest.Options{
		Config: cfg, Threads: threads, Logger: log, Progress: progress, Getenv: io.Env, Detect: selftestDetect,
	})
	if err != nil {
		return err
	}
	if err := writeReport(out, rep, asJSON); err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		if !asJSON {
			fmt.Fprintf(out, "\nselftest: %s would fail the interview; see the fixes above\n", strings.Join(failed, ", "))
		}
		return fmt.Errorf("selftest: %d node(s) would fail: %w", len(failed), errSilent)
	}
	return nil
}

func writeReport(w io.Writer, rep *selftest.Report, asJSON bool) error {
	if !asJSON {
		return selftest.WriteText(w, rep)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
