// Command soak is the chaos soak of issue 11: the real pin-clientd binary (built from
// ./cmd/pin-clientd, run as a subprocess with a config in a temporary directory and the
// secret in PIN_API_SECRET) against the in-process fake gateway core/pintest and fake
// backends (backends/backendtest), under steady mixed load (streaming, non-streaming,
// tools, TTS) on both transports, with a seeded random fault schedule: gateway restarts,
// link resets mid-stream, backends that die mid-stream, answer 500 or hang, gateway POSTs
// stalled for seconds, heartbeat 502s, bursts beyond the queue, malformed and oversized
// frames, interviews with integral floats, and SIGTERM with jobs in flight at the end.
//
// It prints the figures of every invariant and exits 1 with one line per violated
// invariant:
//
//   - every request on a link that stayed up is answered exactly once (no duplicates);
//   - jobs are lost only where the link they arrived on died of an injected fault
//     (a restart or a reset); a link the daemon ended itself with jobs unanswered is a
//     violation (counted and reported separately);
//   - every gateway restart is followed by re-registration of every node before the
//     next fault of that kind (-rereg-max bounds the time; p50 and max printed);
//   - RSS (VmRSS) and open FDs flat from the end of warm-up to the end;
//   - no panic, fatal error or data race in the daemon's output;
//   - exit 0 within the grace period (+ 5 s) on SIGTERM with jobs in flight, each of
//     them answered before the link closes;
//   - the API secret never appears in the daemon's output at -l trace, nor reaches
//     the gateway raw.
//
// Goroutines are not measured: the daemon exposes no debug endpoint, and adding one
// for the soak alone was not worth the surface; RSS and FDs catch the leaks that
// matter (a leaked goroutine holds a stack, a leaked connection an FD).
//
// All traffic is on loopback; the run is bounded by -duration (plus at most about a
// minute of settling per transport) and stops by itself. `make soak` runs it;
// `make soak-quick` is the 2-minute CI variant.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	violations, err := run(ctx, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if len(violations) > 0 {
		fmt.Println("\nFAIL")
		for _, v := range violations {
			fmt.Println("FAIL:", v)
		}
		os.Exit(1)
	}
	fmt.Println("\nPASS: every invariant held")
}

// options are the soak's flags.
type options struct {
	seed       uint64
	duration   time.Duration
	transports []string
	restarts   int
	grace      time.Duration
	rereg      time.Duration
	keep       bool
	race       bool
	bin        string
	faults     map[string]bool // enabled fault kinds (allFaults)
}

// allFaults are the fault kinds -faults selects from.
var allFaults = []string{"restart", "reset", "stall", "hb502", "burst", "malformed", "oversized", "tts500", "backend", "interview"}

// on reports whether fault kind name is enabled.
func (o options) on(name string) bool { return o.faults[name] }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the fault schedule and the load mix")
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "total load time, split evenly between the transports")
	tr := fs.String("transport", "both", "sse, ws or both")
	fs.IntVar(&o.restarts, "restarts", 0, "gateway restarts in total (0: 100 per 10 minutes of -duration, at least 4 per transport)")
	fs.DurationVar(&o.grace, "grace", 5*time.Second, "the daemon's -grace (drain time on SIGTERM)")
	fs.DurationVar(&o.rereg, "rereg-max", 10*time.Second, "longest acceptable time from a gateway restart to every node registered again")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (config, daemon logs)")
	fs.BoolVar(&o.race, "race", false, "build pin-clientd with the race detector")
	fs.StringVar(&o.bin, "bin", "", "use this pin-clientd binary instead of building one")
	faults := fs.String("faults", "all", "fault kinds to inject, comma-separated: all or "+strings.Join(allFaults, ","))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch *tr {
	case "both":
		o.transports = []string{"sse", "ws"}
	case "sse", "ws":
		o.transports = []string{*tr}
	default:
		return o, fmt.Errorf("-transport %q: use sse, ws or both", *tr)
	}
	o.faults = map[string]bool{}
	for _, f := range strings.Split(*faults, ",") {
		switch f = strings.TrimSpace(f); {
		case f == "all":
			for _, a := range allFaults {
				o.faults[a] = true
			}
		case slices.Contains(allFaults, f):
			o.faults[f] = true
		case f != "":
			return o, fmt.Errorf("-faults: unknown kind %q; use all or some of %s", f, strings.Join(allFaults, ","))
		}
	}
	if o.duration < 20*time.Second {
		return o, fmt.Errorf("-duration %v: at least 20s (the warm-up alone takes 15 s per transport)", o.duration)
	}
	if o.restarts == 0 {
		o.restarts = int(100 * o.duration / (10 * time.Minute))
	}
	if o.restarts < 4*len(o.transports) {
		o.restarts = 4 * len(o.transports)
	}
	if !o.on("restart") {
		o.restarts = 0
	}
	return o, nil
}

func run(ctx context.Context, args []string) ([]string, error) {
	o, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pinsoak-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Println("keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.bin
	if bin == "" {
		fmt.Println("building pin-clientd ...")
		if bin, err = buildDaemon(ctx, dir, o.race); err != nil {
			return nil, err
		}
	}
	var on []string
	for _, f := range allFaults {
		if o.on(f) {
			on = append(on, f)
		}
	}
	fmt.Printf("soak: seed %d, %v over %s, %d gateway restarts, grace %v, faults %s, load %s\n",
		o.seed, o.duration, strings.Join(o.transports, "+"), o.restarts, o.grace, strings.Join(on, ","), loadavg())
	var all []string
	per := o.duration / time.Duration(len(o.transports))
	for i, tr := range o.transports {
		if ctx.Err() != nil {
			return nil, errors.New("interrupted")
		}
		p := &phase{opts: o, transport: tr, dur: per, restarts: o.restarts / len(o.transports),
			seed: o.seed*1000 + uint64(i), dir: filepath.Join(dir, tr), bin: bin}
		vs, err := p.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tr, err)
		}
		for _, v := range vs {
			all = append(all, tr+": "+v)
		}
	}
	return all, nil
}

// loadavg is the 1/5/15-minute load average, for the record.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
