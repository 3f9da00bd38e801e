// Command pin-clientd is the PIN Client headless daemon: a drop-in successor of the Rust
// pin-clientd 2.4.0 (same flags, same config.json, same wire protocol) plus the
// subcommands operators need around it. Pure Go; builds with CGO_ENABLED=0.
//
//	pin-clientd [-c config.json] [-l info] [-n 1] [--grace 10s]   run the relay
//	pin-clientd <command> [flags]                                  see -h
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// subcommand is one `pin-clientd <name>`; run gets the arguments after the name.
type subcommand struct {
	run     func(ctx context.Context, args []string, io cmdIO) error
	summary string
}

// subcommands is filled by the files that implement them (see their init funcs).
var subcommands = map[string]subcommand{}

func main() {
	// The first SIGINT/SIGTERM cancels ctx (drain, then exit 0); a second one exits at
	// once. One channel registered for the whole run, not signal.NotifyContext: a signal
	// arriving between NotifyContext's stop and a new Notify would be lost.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "pin-clientd: second signal, exiting now without waiting for jobs")
		os.Exit(130)
	}()
	err := dispatch(ctx, os.Args[1:], stdIO())
	cancel()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "pin-clientd:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// errSilent: the command already told the operator; exit 1 without another line.
var errSilent = errors.New("failed")

func stdIO() cmdIO {
	fd := int(os.Stdin.Fd())
	return cmdIO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Getenv,
		IsTerminal:   func() bool { return term.IsTerminal(fd) },
		ReadPassword: func() ([]byte, error) { return term.ReadPassword(fd) },
	}
}

func dispatch(ctx context.Context, args []string, io cmdIO) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name := args[0]
		if name == "run" {
			return runDaemon(ctx, args[1:], io)
		}
		if name == "help" {
			usage(io.Stdout)
			return nil
		}
		sc, ok := subcommands[name]
		if !ok {
			return fmt.Errorf("unknown command %q; run `pin-clientd -h` for the list", name)
		}
		return sc.run(ctx, args[1:], io)
	}
	return runDaemon(ctx, args, io)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `pin-clientd: PIN network operator daemon

Usage:
  pin-clientd [flags]              connect to the PIN gateway and serve jobs
  pin-clientd <command> [flags]    see below; "pin-clientd <command> -h" for its flags

Flags:
  -c, --config <FILE>        config file (default config.json)
  -l, --log-level <LEVEL>    trace|debug|info|warn|error (default info; RUST_LOG overrides)
  -n, --threads <NUM>        jobs run at once, all nodes together (default 1); match OLLAMA_NUM_PARALLEL
      --queue <NUM>          jobs that may wait for a free slot before "busy" (default max(8, 4×threads))
      --grace <DURATION>     on SIGINT/SIGTERM, how long running jobs may finish (default 10s)
      --metrics-addr <ADDR>  serve Prometheus /metrics, /healthz, /readyz, e.g. 127.0.0.1:9464 (default off)
      --metrics-allow-remote allow a --metrics-addr that is not loopback
      --control-socket <P>   the control API endpoint (default per user; see docs/control-api.md)
  -h, --help                 this help
  -V, --version              print the version

Commands:
`)
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
}
