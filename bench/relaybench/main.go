// Command relaybench measures what the PIN relay costs, side by side on one machine:
// a consumer streaming straight from a fake OpenAI-compatible backend (direct) against
// the same consumer going through the local PIN gateway and the real pin-clientd to the
// same backend (relayed), once per operator transport (sse, ws, and sse-h2: SSE over
// TLS with HTTP/2 offered) and per round trip between pin-clientd and the gateway
// (-rtt, default 0 and 50 ms: a delay proxy on 127.0.0.1 holds every byte RTT/2 in each
// direction, order kept, no bandwidth limit).
//
//	go run ./bench/relaybench -out bench/results.json     # full run, a few minutes
//	go run ./bench/relaybench -quick                       # smoke run (sse, ws), about 20 s plus the build
//	go run ./bench/relaybench -rtt 50ms -transports sse    # one run
//
// At RTT 0 the sse and ws runs measure P1–P5; every run measures a burst (64 paced
// streams started at once, direct and relayed at the same time) and a steady load (64
// consumers each sending the next request when the last ends, direct and relayed at the
// same time): relayed ÷ direct tokens/s, added time to first token and pin-clientd's
// share of it (added − RTT), the gap between content events at the consumer, uplink
// messages (SSE: POSTs) per token, and how late the daemon's heartbeats arrive.
//
// Everything but the daemon runs in this process: the fake backend (bench/relaybench's
// own lean vLLM look-alike with a configurable time to first token and inter-token
// delay), the local gateway (core/pintest on 127.0.0.1, consumer side included) and the
// consumers. pin-clientd is built from ./cmd/pin-clientd (or taken from -daemon) and run
// as a separate process with a generated config.json, -n 256 and the secret in
// PIN_API_SECRET, so its CPU time and memory are its own (/proc/<pid>/stat and status).
//
// It prints a table and writes a JSON file with P1–P5 (see README.md, "Performance"),
// each marked pass or miss against its target. The exit status is non-zero when a run
// fails (a stream loses tokens, the daemon dies, a timeout); a missed target fails the
// run only with -fail-on-miss.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "relaybench:", err)
		}
		os.Exit(1)
	}
}

// plan is the size of every phase.
type plan struct {
	Streams      int           `json:"streams"`        // P1, P3
	TTFT         time.Duration `json:"ttft_ns"`        // fake time to first token (P1, P3 paced, P4)
	TokenDelay   time.Duration `json:"token_delay_ns"` // 50 tok/s
	P1Tokens     int           `json:"p1_tokens"`      // per P1 stream
	P1Duration   time.Duration `json:"p1_duration_ns"` // per path, split in P1Rounds alternating windows
	P1Rounds     int           `json:"p1_rounds"`
	PacedTokens  int           `json:"paced_tokens"` // per P3 paced stream
	FullTokens   int           `json:"full_tokens"`  // per P3 full-speed stream
	P4Streams    int           `json:"p4_streams"`
	P4Tokens     int           `json:"p4_tokens"`
	P5Runs       int           `json:"p5_runs"`
	IdleSettle   time.Duration `json:"idle_settle_ns"`
	Threads      int           `json:"threads"` // -n
	NodeCapacity int           `json:"node_capacity"`
	// SteadyDuration is the steady-load window (closed loop of PacedTokens streams);
	// a full run stretches it past the daemon's first heartbeat tick.
	SteadyDuration time.Duration `json:"steady_duration_ns"`
}

var (
	fullPlan = plan{Streams: 64, TTFT: 20 * time.Millisecond, TokenDelay: 20 * time.Millisecond,
		P1Tokens: 10, P1Duration: 6 * time.Second, P1Rounds: 3, PacedTokens: 150, FullTokens: 1000,
		P4Streams: 256, P4Tokens: 100, P5Runs: 5, IdleSettle: 2 * time.Second, Threads: 256, NodeCapacity: 256,
		SteadyDuration: 10 * time.Second}
	quickPlan = plan{Streams: 64, TTFT: 20 * time.Millisecond, TokenDelay: 20 * time.Millisecond,
		P1Tokens: 10, P1Duration: 1500 * time.Millisecond, P1Rounds: 1, PacedTokens: 25, FullTokens: 100,
		P4Streams: 256, P4Tokens: 25, P5Runs: 1, IdleSettle: 500 * time.Millisecond, Threads: 256, NodeCapacity: 256,
		SteadyDuration: 1500 * time.Millisecond}
)

// Targets (issue 4).
const (
	targetP1p50    = 0.5  // ms
	targetP1p99    = 2.0  // ms
	targetP2       = 5.0  // µs per token
	targetP3       = 0.99 // ratio at 50 tok/s
	targetP4Idle   = 20.0 // MB
	targetP4Stream = 60.0 // MB at 256 streams
	targetP5       = 300.0
)

// Report is the JSON file.
type Report struct {
	Time       time.Time                `json:"time"`
	Quick      bool                     `json:"quick"`
	Machine    Machine                  `json:"machine"`
	Backend    string                   `json:"backend"`
	Plan       plan                     `json:"plan"`
	DaemonEnv  []string                 `json:"daemon_env,omitempty"`
	Transports map[string]*TransportRun `json:"transports"`
	// Latency has one entry per run (transport × round trip): burst and steady load.
	RTTs    []float64     `json:"rtts_ms"`
	Latency []*LatencyRun `json:"latency"`
	Checks  []Check       `json:"checks"`
	AllPass bool          `json:"all_pass"`
	Seconds float64       `json:"seconds"`
}

// Machine describes where the numbers come from.
type Machine struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

// TransportRun holds every measurement of one transport.
type TransportRun struct {
	P1 P1 `json:"p1_added_ttft"`
	P2 P2 `json:"p2_cpu_per_token"`
	P3 P3 `json:"p3_throughput"`
	P4 P4 `json:"p4_rss"`
	P5 P5 `json:"p5_startup"`
	// DaemonCPUTotalMs and DaemonMaxRSSMB come from the main daemon's rusage at exit.
	DaemonCPUTotalMs float64 `json:"daemon_cpu_total_ms"`
	DaemonMaxRSSMB   float64 `json:"daemon_maxrss_mb"`
}

// P1 is time to first token, direct and relayed, 64 concurrent streams (closed loop).
type P1 struct {
	DirectSamples  int     `json:"direct_samples"`
	RelayedSamples int     `json:"relayed_samples"`
	DirectP50Ms    float64 `json:"direct_p50_ms"`
	DirectP99Ms    float64 `json:"direct_p99_ms"`
	RelayedP50Ms   float64 `json:"relayed_p50_ms"`
	RelayedP99Ms   float64 `json:"relayed_p99_ms"`
	AddedP50Ms     float64 `json:"added_p50_ms"`
	AddedP99Ms     float64 `json:"added_p99_ms"`
	// Where the first token's time goes, p50 and p99 of each leg (streams with every
	// timestamp known). Direct: consumer → backend has the request; backend wrote the
	// first token → consumer parsed it. Relayed: consumer → gateway sent the job;
	// gateway → backend has the request (inside pin-clientd, plus one loopback hop);
	// backend wrote the token → gateway has the chunk (pin-clientd, one hop); gateway →
	// consumer parsed it.
	LegSamples int `json:"leg_samples"`
	// New TCP connections the backend accepted per stream: the consumer's pool is
	// large, so direct is ~0; relayed shows whether pin-clientd reuses its connections.
	DirectBackendConnsPerStream  float64 `json:"direct_backend_conns_per_stream"`
	RelayedBackendConnsPerStream float64 `json:"relayed_backend_conns_per_stream"`
	// DaemonCPUPerStreamUs is pin-clientd's CPU time per relayed P1 stream (a whole job
	// of P1Tokens tokens): with P2 it shows the fixed cost of a job.
	DaemonCPUPerStreamUs   float64 `json:"daemon_cpu_per_stream_us"`
	DirectRequest          Leg     `json:"direct_request"`
	DirectResponse         Leg     `json:"direct_response"`
	RelayedGatewayRequest  Leg     `json:"relayed_gateway_request"`
	RelayedDaemonRequest   Leg     `json:"relayed_daemon_request"`
	RelayedDaemonResponse  Leg     `json:"relayed_daemon_response"`
	RelayedGatewayResponse Leg     `json:"relayed_gateway_response"`
}

// Leg is one part of the time to first token.
type Leg struct {
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

func leg(ds []time.Duration) Leg {
	return Leg{P50Ms: ms(percentile(ds, 0.5)), P99Ms: ms(percentile(ds, 0.99))}
}

func (l Leg) String() string { return fmt.Sprintf("%.2f / %.2f", l.P50Ms, l.P99Ms) }

// P2 is the daemon's CPU time per relayed token (utime+stime of its process).
type P2 struct {
	PacedTokens     int     `json:"paced_tokens"`
	PacedCPUMs      float64 `json:"paced_cpu_ms"`
	PacedUsPerToken float64 `json:"paced_us_per_token"`
	FullTokens      int     `json:"full_tokens"`
	FullCPUMs       float64 `json:"full_cpu_ms"`
	FullUsPerToken  float64 `json:"full_us_per_token"`
	// For scale, the harness process's own CPU per token (fake backend + consumers, and
	// in relayed runs also the local gateway): a direct stream at 50 tok/s is the floor
	// of relaying one token (one write by the fake, one read by the consumer).
	HarnessDirectPacedUsPerToken float64 `json:"harness_direct_paced_us_per_token"`
	HarnessDirectFullUsPerToken  float64 `json:"harness_direct_full_us_per_token"`
	HarnessRelayedFullUsPerToken float64 `json:"harness_relayed_full_us_per_token"`
}

// P3 is aggregate consumer token throughput (tokens from first send to last [DONE]).
type P3 struct {
	PacedDirectTokS  float64 `json:"paced_direct_tok_s"`
	PacedRelayedTokS float64 `json:"paced_relayed_tok_s"`
	PacedRatio       float64 `json:"paced_ratio"`
	FullDirectTokS   float64 `json:"full_direct_tok_s"`
	FullRelayedTokS  float64 `json:"full_relayed_tok_s"`
	FullRatio        float64 `json:"full_ratio"`
}

// P4 is the daemon's resident memory.
type P4 struct {
	IdleMB            float64 `json:"idle_mb"`
	Streams           int     `json:"streams"`
	PeakMB            float64 `json:"peak_mb"` // largest VmRSS sampled every 10 ms
	BackendConcurrent int64   `json:"backend_concurrent"`
}

// P5 is daemon process start → every node registered at the gateway (3 nodes).
type P5 struct {
	Nodes    int       `json:"nodes"`
	RunsMs   []float64 `json:"runs_ms"`
	MedianMs float64   `json:"median_ms"`
	MaxMs    float64   `json:"max_ms"`
}

// Check is one target, pass or miss.
type Check struct {
	ID        string  `json:"id"`
	Transport string  `json:"transport"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Target    string  `json:"target"`
	Pass      bool    `json:"pass"`
}

type options struct {
	out        string
	quick      bool
	daemonBin  string
	transports []string
	failOnMiss bool
	keep       bool
	verbose    bool
	perfDir    string
	env        envList
	rtts       []time.Duration
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	k, _, ok := strings.Cut(v, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return fmt.Errorf("%q is not KEY=VALUE (e.g. GOMAXPROCS=1)", v)
	}
	if k == "PIN_API_SECRET" || k == "HOME" {
		return fmt.Errorf("%s is set by the harness", k)
	}
	*e = append(*e, v)
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("relaybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "write the JSON report to this file (e.g. bench/results.json)")
	fs.BoolVar(&o.quick, "quick", false, "short smoke run (< 30 s): fewer and shorter streams; numbers are rough")
	fs.StringVar(&o.daemonBin, "daemon", "", "use this pin-clientd binary instead of building ./cmd/pin-clientd")
	tr := fs.String("transports", "sse,ws,sse-h2", "comma-separated runs: sse, ws, and sse-h2 (SSE over TLS, HTTP/2 offered; not in -quick unless named)")
	rtts := fs.String("rtt", "0,50ms", "comma-separated round trips added between pin-clientd and the gateway by a delay proxy (0: none)")
	fs.BoolVar(&o.failOnMiss, "fail-on-miss", false, "exit 1 when a target is missed")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (daemon logs, configs) and print its path")
	fs.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	fs.Var(&o.env, "daemon-env", "extra KEY=VALUE in the daemon's environment, repeatable (e.g. GOMAXPROCS=1, GODEBUG=…); the report records it")
	fs.StringVar(&o.perfDir, "perf", "", "record the daemon with `perf record -g` during the relayed P3 phases into this directory (diagnosis)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run with -h for the flags", fs.Arg(0))
	}
	trSet := false
	fs.Visit(func(f *flag.Flag) { trSet = trSet || f.Name == "transports" })
	for _, t := range strings.Split(*tr, ",") {
		t = strings.TrimSpace(t)
		if t != pintest.TransportSSE && t != pintest.TransportWS && t != runSSEH2 {
			return fmt.Errorf("-transports: %q is not a transport; use sse, ws, sse-h2 (SSE over TLS with HTTP/2) or a list such as sse,ws", t)
		}
		if t == runSSEH2 && o.quick && !trSet {
			continue // the CI smoke run stays short
		}
		if !slices.Contains(o.transports, t) {
			o.transports = append(o.transports, t)
		}
	}
	var err error
	if o.rtts, err = parseRTTs(*rtts); err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("relaybench reads /proc for the daemon's CPU and memory: run it on Linux (this is %s)", runtime.GOOS)
	}
	lvl := slog.LevelWarn
	if o.verbose {
		lvl = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	begin := time.Now()
	p := fullPlan
	if o.quick {
		p = quickPlan
	}
	work, err := os.MkdirTemp("", "relaybench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "relaybench: work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin := o.daemonBin
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		log.Info("building pin-clientd", "dir", work)
		if bin, err = buildDaemon(ctx, root, work); err != nil {
			return err
		}
	}

	rep := &Report{Time: time.Now().UTC(), Quick: o.quick, Machine: machine(), Plan: p, DaemonEnv: o.env,
		Backend:    "relaybench fake OpenAI-compatible server (SSE, vLLM-shaped frames), in the harness process",
		Transports: map[string]*TransportRun{}}
	reg := newRegistry()
	fake, err := startFake(log, reg)
	if err != nil {
		return fmt.Errorf("start fake backend: %w", err)
	}
	defer fake.close()
	direct := newTarget("direct", fake.URL)
	defer direct.close()

	if o.perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: %w (install linux-perf / linux-tools)", err)
		}
		if err := os.MkdirAll(o.perfDir, 0o755); err != nil {
			return fmt.Errorf("-perf: %w", err)
		}
	}
	b := &bench{log: log, plan: p, bin: bin, work: work, fake: fake, reg: reg, direct: direct, perfDir: o.perfDir, env: o.env, quick: o.quick}
	var fullOrder []string
	for _, rtt := range o.rtts {
		rep.RTTs = append(rep.RTTs, ms(rtt))
		for _, t := range o.transports {
			tr, lat, err := b.transport(ctx, t, rtt)
			if err != nil {
				return fmt.Errorf("%s at RTT %v: %w", t, rtt, err)
			}
			if tr != nil {
				rep.Transports[t] = tr
				fullOrder = append(fullOrder, t)
			}
			rep.Latency = append(rep.Latency, lat)
		}
	}
	rep.Machine.LoadEnd = loadavg()
	rep.Seconds = time.Since(begin).Seconds()
	rep.Checks, rep.AllPass = checks(fullOrder, rep.Transports)
	for _, l := range rep.Latency {
		for _, c := range latencyChecks(l) {
			rep.Checks = append(rep.Checks, c)
			rep.AllPass = rep.AllPass && c.Pass
		}
	}
	printTable(stdout, rep, fullOrder)
	if o.out != "" {
		if err := writeJSON(o.out, rep); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", o.out)
	}
	if o.failOnMiss && !rep.AllPass {
		return errors.New("a target was missed (see the table)")
	}
	return nil
}

// bench is the shared state of one run.
type bench struct {
	log    *slog.Logger
	plan   plan
	bin    string
	work   string
	fake   *fakeBackend
	reg    *registry
	direct *target
	// perfDir, if set, gets a perf recording of the daemon per measured phase.
	perfDir string
	env     []string // extra daemon environment (-daemon-env)
	quick   bool
}

const clientID = "op_relaybench"

// gateway starts a fresh local gateway with a random secret on 127.0.0.1 (plain HTTP).
func (b *bench) gateway() (*pintest.Gateway, string, error) { return b.newGateway(true) }

// newGateway makes a gateway with a random secret, listening on 127.0.0.1 when listen,
// else for the caller to serve (tlsGateway).
func (b *bench) newGateway(listen bool) (*pintest.Gateway, string, error) {
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	secret := "pin_sk_bench_" + hex.EncodeToString(buf)
	opts := pintest.Options{ClientID: clientID, Secret: secret,
		QueueTimeout: 30 * time.Second, MaxFrames: 200000} // annotate and chunk counts read a phase's records
	if !listen {
		return pintest.NewGateway(opts), secret, nil
	}
	gw, err := pintest.Listen("127.0.0.1:0", opts)
	if err != nil {
		return nil, "", err
	}
	return gw, secret, nil
}

// launch writes a config for nodes nodes and starts the daemon against gw; it returns
// once every node is registered, with the time that took from process start.
func (b *bench) launch(ctx context.Context, gw *pintest.Gateway, secret, transport string, nodes int, name string) (*daemon, time.Duration, error) {
	return b.launchAt(ctx, gw, gw.URL(), nil, secret, transport, nodes, name)
}

// launchAt is launch with the daemon's serverUrl (a delay proxy in front of gw, say) and
// extra environment.
func (b *bench) launchAt(ctx context.Context, gw *pintest.Gateway, server string, env []string, secret, transport string, nodes int, name string) (*daemon, time.Duration, error) {
	cfg, err := daemonConfig(clientID, server, transport, b.fake.URL, nodes, b.plan.NodeCapacity)
	if err != nil {
		return nil, 0, err
	}
	cfgPath := filepath.Join(b.work, name+".json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, 0, err
	}
	d, err := startDaemon(b.bin, b.work, cfgPath, secret, b.plan.Threads, append(slices.Clone(b.env), env...), filepath.Join(b.work, name+".log"))
	if err != nil {
		return nil, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-d.exited:
			cancel()
		case <-wctx.Done():
		}
	}()
	if _, err := gw.WaitNodes(wctx, nodes); err != nil {
		if aerr := d.alive(); aerr != nil {
			return nil, 0, aerr
		}
		_ = d.stop()
		return nil, 0, fmt.Errorf("%d nodes not registered within 30 s (see %s): %w", nodes, d.logPath, err)
	}
	return d, time.Since(d.started), nil
}

// transport runs the phases of one run: name is sse, ws or sse-h2 (SSE over TLS with
// HTTP/2 offered), rtt the round trip the delay proxy adds between pin-clientd and the
// gateway (none at 0). The full set (P1–P5, the steady load) runs for sse and ws at RTT
// 0; otherwise only what a round trip changes: the steady load and the burst. The
// TransportRun is nil for those.
func (b *bench) transport(ctx context.Context, name string, rtt time.Duration) (*TransportRun, *LatencyRun, error) {
	p := b.plan
	transport := strings.TrimSuffix(name, "-h2")
	useTLS := name == runSSEH2
	full := rtt == 0 && !useTLS
	out := &TransportRun{}
	lat := &LatencyRun{Name: name, RTTMs: ms(rtt), TLS: useTLS, GatewayConns: -1}
	log := b.log.With("transport", name, "rtt", rtt)

	var (
		gw       *pintest.Gateway
		secret   string
		relayed  *target
		env      []string
		closeGW  func()
		err      error
		gwAddr   string
		hbSSE    = transport == pintest.TransportSSE
		tag      = fmt.Sprintf("%s-%dms", name, rtt.Milliseconds())
		proxy    *delayProxy
		chunkCnt *chunkCounter
	)
	if useTLS {
		var certFile string
		var tc *tls.Config
		gw, secret, certFile, tc, closeGW, err = b.tlsGateway()
		if err != nil {
			return nil, nil, err
		}
		relayed = newTLSTarget("relayed", gw.HTTPURL(), tc)
		env = []string{"SSL_CERT_FILE=" + certFile}
	} else {
		gw, secret, err = b.gateway()
		if err != nil {
			return nil, nil, err
		}
		closeGW = gw.Close
		relayed = newTarget("relayed", gw.HTTPURL())
	}
	defer closeGW()
	defer relayed.close()
	gwAddr = hostPort(gw.HTTPURL())
	if rtt > 0 {
		if proxy, err = startProxy(gwAddr, rtt/2); err != nil {
			return nil, nil, fmt.Errorf("delay proxy: %w", err)
		}
		defer proxy.close()
		gwAddr = proxy.Addr()
	}

	log.Info("starting pin-clientd", "nodes", 1)
	hb := watchHeartbeats(gw)
	d, _, err := b.launchAt(ctx, gw, serverURL(gwAddr, useTLS), env, secret, transport, 1, "daemon-"+tag)
	if err != nil {
		hb.lateness(gw, hbSSE, rtt)
		return nil, nil, err
	}
	defer d.stop()
	registered := time.Now()

	// P4 idle: registered, no job yet.
	if full {
		if sleepUntil(ctx, time.Now().Add(p.IdleSettle)) != nil {
			return nil, nil, ctx.Err()
		}
		idle, _, err := procMem(d.pid())
		if err != nil {
			return nil, nil, fmt.Errorf("daemon memory: %w", err)
		}
		out.P4.IdleMB = mb(idle)
	}

	// Warm both paths' connection pools (consumer→gateway, daemon→backend, consumer→backend).
	b.fake.setPace(pace{})
	for _, t := range []*target{b.direct, relayed} {
		if _, err := runConcurrent(ctx, t, b.reg, p.Streams, 5); err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	b.fake.setPace(pace{TTFT: p.TTFT, TokenDelay: p.TokenDelay})
	var dr, rr []streamResult
	if full {
		// P1: closed loop, streams in flight at all times. Direct and relayed windows
		// alternate (D R, R D, …) so that load from elsewhere on the machine hits both alike.
		log.Info("P1 time to first token", "streams", p.Streams, "seconds", p.P1Duration.Seconds())
		period := p.TTFT + time.Duration(p.P1Tokens-1)*p.TokenDelay
		var dconns, rconns int64
		var rcpu time.Duration
		window := p.P1Duration / time.Duration(p.P1Rounds)
		stopPerf, err := b.perf(d, transport+"-p1")
		if err != nil {
			return nil, nil, err
		}
		for round := range p.P1Rounds {
			order := []*target{b.direct, relayed}
			if round%2 == 1 {
				order = []*target{relayed, b.direct}
			}
			for _, t := range order {
				conns := b.fake.conns.Load()
				cpu0, err := procCPU(d.pid())
				if err != nil {
					return nil, nil, err
				}
				rs, err := runClosedLoop(ctx, t, b.reg, p.Streams, p.P1Tokens, period, window)
				if err != nil {
					return nil, nil, fmt.Errorf("P1 %s: %w", t.name, err)
				}
				cpu1, err := procCPU(d.pid())
				if err != nil {
					return nil, nil, err
				}
				conns = b.fake.conns.Load() - conns
				if t == b.direct {
					dconns += conns
					dr = append(dr, rs...)
				} else {
					rconns += conns
					rcpu += cpu1 - cpu0
					annotate(gw, rs)
					rr = append(rr, rs...)
				}
			}
		}
		stopPerf()
		out.P1 = p1(dr, rr)
		out.P1.DirectBackendConnsPerStream = float64(dconns) / float64(max(1, len(dr)))
		out.P1.RelayedBackendConnsPerStream = float64(rconns) / float64(max(1, len(rr)))
		out.P1.DaemonCPUPerStreamUs = float64(rcpu.Nanoseconds()) / 1e3 / float64(max(1, len(rr)))
	}

	// P3 paced (and P2 paced): first direct alone (the harness's cost of a token, for
	// scale), then 64 streams at 50 tok/s direct and 64 relayed at the same time, so both
	// see the same machine.
	log.Info("P3 paced throughput", "streams", p.Streams, "tokens", p.PacedTokens)
	if full {
		hcpu, err := selfCPU(func() error {
			var e error
			dr, e = runConcurrent(ctx, b.direct, b.reg, p.Streams, p.PacedTokens)
			return e
		})
		if err != nil {
			return nil, nil, fmt.Errorf("P3 paced direct alone: %w", err)
		}
		out.P2.HarnessDirectPacedUsPerToken = perToken(hcpu, dr)
	}
	var derr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		dr, derr = runConcurrent(ctx, b.direct, b.reg, p.Streams, p.PacedTokens)
	}()
	chunkCnt = countChunks(gw)
	rr, cpu, err := b.measured(ctx, d, relayed, p.Streams, p.PacedTokens, tag+"-paced")
	<-done
	if err != nil {
		return nil, nil, fmt.Errorf("P3 paced relayed: %w", err)
	}
	if derr != nil {
		return nil, nil, fmt.Errorf("P3 paced direct: %w", derr)
	}
	_, out.P3.PacedDirectTokS = throughput(dr)
	out.P2.PacedTokens, out.P3.PacedRelayedTokS = throughput(rr)
	out.P3.PacedRatio = out.P3.PacedRelayedTokS / out.P3.PacedDirectTokS
	out.P2.PacedCPUMs = ms(cpu)
	out.P2.PacedUsPerToken = float64(cpu.Nanoseconds()) / 1e3 / float64(out.P2.PacedTokens)
	lat.Burst = phase(dr, rr, rtt, chunkCnt.count(), cpu)

	// Steady load: p.Streams consumers each direct and relayed, back to back, at the
	// same time. In a full run it lasts until the daemon's first heartbeat tick is past,
	// so the tick is measured under load.
	window := p.SteadyDuration
	if !b.quick {
		window = max(window, time.Until(registered.Add(heartbeatEvery+time.Second)))
	}
	log.Info("steady load", "streams", p.Streams, "tokens", p.PacedTokens, "seconds", window.Seconds())
	streamTime := p.TTFT + time.Duration(p.PacedTokens)*p.TokenDelay
	chunkCnt = countChunks(gw)
	var sdr []streamResult
	done = make(chan struct{})
	go func() {
		defer close(done)
		sdr, derr = runClosedLoop(ctx, b.direct, b.reg, p.Streams, p.PacedTokens, streamTime, window)
	}()
	cpu0, err := procCPU(d.pid())
	if err != nil {
		return nil, nil, err
	}
	srr, err := runClosedLoop(ctx, relayed, b.reg, p.Streams, p.PacedTokens, streamTime, window)
	<-done
	if err != nil {
		return nil, nil, fmt.Errorf("steady relayed: %w", err)
	}
	if derr != nil {
		return nil, nil, fmt.Errorf("steady direct: %w", derr)
	}
	cpu1, err := procCPU(d.pid())
	if err != nil {
		return nil, nil, err
	}
	lat.Steady = phase(sdr, srr, rtt, chunkCnt.count(), cpu1-cpu0)
	if proxy != nil {
		lat.GatewayConns = proxy.conns.Load()
	}
	if !full {
		lat.HeartbeatLateMs, lat.Ticks = latenessMs(hb, gw, hbSSE, rtt)
		if err := d.alive(); err != nil {
			return nil, nil, err
		}
		return nil, lat, d.stop()
	}

	// P3 full speed (and P2 full speed).
	log.Info("P3 full-speed throughput", "streams", p.Streams, "tokens", p.FullTokens)
	b.fake.setPace(pace{})
	hcpu, err := selfCPU(func() error {
		var e error
		dr, e = runConcurrent(ctx, b.direct, b.reg, p.Streams, p.FullTokens)
		return e
	})
	if err != nil {
		return nil, nil, fmt.Errorf("P3 full direct: %w", err)
	}
	out.P2.HarnessDirectFullUsPerToken = perToken(hcpu, dr)
	hcpu, err = selfCPU(func() error {
		var e error
		rr, cpu, e = b.measured(ctx, d, relayed, p.Streams, p.FullTokens, tag+"-full")
		return e
	})
	if err != nil {
		return nil, nil, fmt.Errorf("P3 full relayed: %w", err)
	}
	out.P2.HarnessRelayedFullUsPerToken = perToken(hcpu, rr)
	_, out.P3.FullDirectTokS = throughput(dr)
	out.P2.FullTokens, out.P3.FullRelayedTokS = throughput(rr)
	out.P3.FullRatio = out.P3.FullRelayedTokS / out.P3.FullDirectTokS
	out.P2.FullCPUMs = ms(cpu)
	out.P2.FullUsPerToken = float64(cpu.Nanoseconds()) / 1e3 / float64(out.P2.FullTokens)

	// P4 under load: 256 streams at 50 tok/s, RSS sampled every 10 ms.
	log.Info("P4 memory under load", "streams", p.P4Streams)
	b.fake.setPace(pace{TTFT: p.TTFT, TokenDelay: p.TokenDelay})
	b.fake.resetMax()
	s := sampleRSS(d.pid(), 10*time.Millisecond)
	_, err = runConcurrent(ctx, relayed, b.reg, p.P4Streams, p.P4Tokens)
	peak := s.stop()
	if err != nil {
		return nil, nil, fmt.Errorf("P4: %w", err)
	}
	out.P4.Streams, out.P4.PeakMB, out.P4.BackendConcurrent = p.P4Streams, mb(peak), b.fake.maxIn.Load()

	lat.HeartbeatLateMs, lat.Ticks = latenessMs(hb, gw, hbSSE, rtt)
	if err := d.alive(); err != nil {
		return nil, nil, err
	}
	if err := d.stop(); err != nil {
		return nil, nil, err
	}
	if cpu, rss, ok := exitUsage(d.cmd.ProcessState); ok {
		out.DaemonCPUTotalMs, out.DaemonMaxRSSMB = ms(cpu), mb(rss)
	}

	// P5: a 3-node config, fresh gateway each time.
	log.Info("P5 startup", "nodes", 3, "runs", p.P5Runs)
	out.P5.Nodes = 3
	var runs []time.Duration
	for i := range p.P5Runs {
		gw5, secret5, err := b.gateway()
		if err != nil {
			return nil, nil, err
		}
		d5, took, err := b.launch(ctx, gw5, secret5, transport, 3, fmt.Sprintf("startup-%s-%d", transport, i))
		if err == nil {
			err = d5.stop()
		}
		gw5.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("P5: %w", err)
		}
		runs = append(runs, took)
		out.P5.RunsMs = append(out.P5.RunsMs, ms(took))
	}
	out.P5.MedianMs, out.P5.MaxMs = ms(percentile(runs, 0.5)), ms(percentile(runs, 1))
	return out, lat, nil
}

// latenessMs is heartbeatWatch.lateness in milliseconds.
func latenessMs(hb *heartbeatWatch, gw *pintest.Gateway, sse bool, rtt time.Duration) (float64, int) {
	late, ticks := hb.lateness(gw, sse, rtt)
	return ms(late), ticks
}

// selfCPU runs f and returns the CPU time this process used meanwhile.
func selfCPU(f func() error) (time.Duration, error) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

// perToken is cpu in µs per token received by rs.
func perToken(cpu time.Duration, rs []streamResult) float64 {
	n, _ := throughput(rs)
	if n == 0 {
		return 0
	}
	return float64(cpu.Nanoseconds()) / 1e3 / float64(n)
}

// perf starts a perf recording of the daemon for phase when -perf is set.
func (b *bench) perf(d *daemon, phase string) (stop func(), err error) {
	if b.perfDir == "" {
		return func() {}, nil
	}
	return perfRecord(d.pid(), filepath.Join(b.perfDir, phase+".perf.data"))
}

// measured runs concurrent relayed streams and returns the daemon's CPU time used
// meanwhile.
func (b *bench) measured(ctx context.Context, d *daemon, t *target, streams, n int, phase string) ([]streamResult, time.Duration, error) {
	stop, err := b.perf(d, phase)
	if err != nil {
		return nil, 0, err
	}
	defer stop()
	before, err := procCPU(d.pid())
	if err != nil {
		return nil, 0, err
	}
	rs, err := runConcurrent(ctx, t, b.reg, streams, n)
	if err != nil {
		return nil, 0, err
	}
	after, err := procCPU(d.pid())
	if err != nil {
		return nil, 0, err
	}
	return rs, after - before, nil
}

func p1(direct, relayed []streamResult) P1 {
	dt, rt := ttfts(direct), ttfts(relayed)
	out := P1{DirectSamples: len(dt), RelayedSamples: len(rt),
		DirectP50Ms: ms(percentile(dt, 0.5)), DirectP99Ms: ms(percentile(dt, 0.99)),
		RelayedP50Ms: ms(percentile(rt, 0.5)), RelayedP99Ms: ms(percentile(rt, 0.99))}
	out.AddedP50Ms = out.RelayedP50Ms - out.DirectP50Ms
	out.AddedP99Ms = out.RelayedP99Ms - out.DirectP99Ms
	dq, dp := legs(direct)
	out.DirectRequest, out.DirectResponse = leg(dq), leg(dp)
	gq, rq, rp, gp := relayLegs(relayed)
	out.LegSamples = len(rq)
	out.RelayedGatewayRequest, out.RelayedDaemonRequest = leg(gq), leg(rq)
	out.RelayedDaemonResponse, out.RelayedGatewayResponse = leg(rp), leg(gp)
	return out
}

// checks compares every transport's numbers with the targets.
func checks(order []string, runs map[string]*TransportRun) ([]Check, bool) {
	var out []Check
	all := true
	for _, t := range order {
		r := runs[t]
		add := func(id, metric string, v float64, unit, target string, pass bool) {
			out = append(out, Check{ID: id, Transport: t, Metric: metric, Value: v, Unit: unit, Target: target, Pass: pass})
			all = all && pass
		}
		add("P1", "added TTFT p50", r.P1.AddedP50Ms, "ms", fmt.Sprintf("≤ %g ms", targetP1p50), r.P1.AddedP50Ms <= targetP1p50)
		add("P1", "added TTFT p99", r.P1.AddedP99Ms, "ms", fmt.Sprintf("≤ %g ms", targetP1p99), r.P1.AddedP99Ms <= targetP1p99)
		add("P2", "daemon CPU per token, 50 tok/s", r.P2.PacedUsPerToken, "µs", fmt.Sprintf("≤ %g µs", targetP2), r.P2.PacedUsPerToken <= targetP2)
		add("P2", "daemon CPU per token, full speed", r.P2.FullUsPerToken, "µs", fmt.Sprintf("≤ %g µs", targetP2), r.P2.FullUsPerToken <= targetP2)
		add("P3", "relayed ÷ direct, 50 tok/s", r.P3.PacedRatio, "", fmt.Sprintf("≥ %g", targetP3), r.P3.PacedRatio >= targetP3)
		add("P4", "RSS idle", r.P4.IdleMB, "MB", fmt.Sprintf("≤ %g MB", targetP4Idle), r.P4.IdleMB <= targetP4Idle)
		add("P4", fmt.Sprintf("RSS peak, %d streams", r.P4.Streams), r.P4.PeakMB, "MB", fmt.Sprintf("≤ %g MB", targetP4Stream), r.P4.PeakMB <= targetP4Stream)
		add("P5", "start → 3 nodes registered (median)", r.P5.MedianMs, "ms", fmt.Sprintf("≤ %g ms", targetP5), r.P5.MedianMs <= targetP5)
	}
	return out, all
}

func printTable(w io.Writer, rep *Report, order []string) {
	fmt.Fprintf(w, "relay benchmark (%s), %d CPUs %s, %s, load %s → %s, %.0f s\n",
		map[bool]string{true: "quick", false: "full"}[rep.Quick], rep.Machine.NProc, rep.Machine.CPU,
		rep.Machine.GoVersion, rep.Machine.LoadStart, rep.Machine.LoadEnd, rep.Seconds)
	if len(order) > 0 {
		printFull(w, rep, order)
	}
	printLatency(w, rep.Latency)
	if rep.Quick && len(rep.Latency) > 0 {
		fmt.Fprintf(w, "note: -quick streams are %d tokens (%.1f s), so a round trip weighs more in the ratios than in the full run's %d; heartbeats need the full run\n",
			rep.Plan.PacedTokens, (rep.Plan.TTFT + time.Duration(rep.Plan.PacedTokens)*rep.Plan.TokenDelay).Seconds(), fullPlan.PacedTokens)
	}
	for _, t := range order {
		if r := rep.Transports[t]; r.P4.BackendConcurrent < int64(r.P4.Streams) {
			fmt.Fprintf(w, "note: %s: only %d of %d P4 streams were at the backend at once\n", t, r.P4.BackendConcurrent, r.P4.Streams)
		}
	}
	if busy(rep.Machine) {
		fmt.Fprintf(w, "note: the machine was busy (load average %s / %s on %d CPUs): latencies and CPU times are inflated\n",
			rep.Machine.LoadStart, rep.Machine.LoadEnd, rep.Machine.NProc)
	}
	verdict := "all targets met"
	if !rep.AllPass {
		verdict = "some targets MISSED"
	}
	fmt.Fprintln(w, verdict)
}

// printFull prints the RTT-0 table of P1–P5, one column per transport in order.
func printFull(w io.Writer, rep *Report, order []string) {
	fmt.Fprintf(w, "%-44s", "metric")
	for _, t := range order {
		fmt.Fprintf(w, " %16s", t)
	}
	fmt.Fprintf(w, "  %s\n", "target")
	row := func(name, target string, f func(r *TransportRun) (string, bool, bool)) {
		fmt.Fprintf(w, "%-44s", name)
		for _, t := range order {
			v, checked, pass := f(rep.Transports[t])
			mark := ""
			if checked {
				mark = map[bool]string{true: " ok", false: " MISS"}[pass]
			}
			fmt.Fprintf(w, " %16s", v+mark)
		}
		fmt.Fprintf(w, "  %s\n", target)
	}
	f2 := func(v float64) string { return fmt.Sprintf("%.3f", v) }
	row("P1 added TTFT p50 (ms)", fmt.Sprintf("≤ %g", targetP1p50), func(r *TransportRun) (string, bool, bool) {
		return f2(r.P1.AddedP50Ms), true, r.P1.AddedP50Ms <= targetP1p50
	})
	row("P1 added TTFT p99 (ms)", fmt.Sprintf("≤ %g", targetP1p99), func(r *TransportRun) (string, bool, bool) {
		return f2(r.P1.AddedP99Ms), true, r.P1.AddedP99Ms <= targetP1p99
	})
	row("   TTFT direct p50 / p99 (ms)", "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.2f / %.2f", r.P1.DirectP50Ms, r.P1.DirectP99Ms), false, false
	})
	row("   TTFT relayed p50 / p99 (ms)", "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.2f / %.2f", r.P1.RelayedP50Ms, r.P1.RelayedP99Ms), false, false
	})
	row("   direct, consumer → backend (ms)", "p50 / p99", func(r *TransportRun) (string, bool, bool) {
		return r.P1.DirectRequest.String(), false, false
	})
	row("   direct, backend → consumer (ms)", "p50 / p99", func(r *TransportRun) (string, bool, bool) {
		return r.P1.DirectResponse.String(), false, false
	})
	row("   relayed, consumer → gateway out (ms)", "p50 / p99", func(r *TransportRun) (string, bool, bool) {
		return r.P1.RelayedGatewayRequest.String(), false, false
	})
	row("   relayed, gateway → backend: daemon (ms)", "p50 / p99", func(r *TransportRun) (string, bool, bool) {
		return r.P1.RelayedDaemonRequest.String(), false, false
	})
	row("   relayed, backend → gateway: daemon (ms)", "p50 / p99", func(r *TransportRun) (string, bool, bool) {
		return r.P1.RelayedDaemonResponse.String(), false, false
	})
	row("   relayed, gateway in → consumer (ms)", "p50 / p99", func(r *TransportRun) (string, bool, bool) {
		return r.P1.RelayedGatewayResponse.String(), false, false
	})
	row("   new backend connections per stream", "direct / relayed", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.2f / %.2f", r.P1.DirectBackendConnsPerStream, r.P1.RelayedBackendConnsPerStream), false, false
	})
	row(fmt.Sprintf("   daemon CPU per P1 job of %d tokens (µs)", rep.Plan.P1Tokens), "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.0f", r.P1.DaemonCPUPerStreamUs), false, false
	})
	row("P2 daemon CPU/token, 50 tok/s (µs)", fmt.Sprintf("≤ %g", targetP2), func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.2f", r.P2.PacedUsPerToken), true, r.P2.PacedUsPerToken <= targetP2
	})
	row("P2 daemon CPU/token, full speed (µs)", fmt.Sprintf("≤ %g", targetP2), func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.2f", r.P2.FullUsPerToken), true, r.P2.FullUsPerToken <= targetP2
	})
	row("   harness CPU/token: direct 50 tok/s (µs)", "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.2f", r.P2.HarnessDirectPacedUsPerToken), false, false
	})
	row("   harness CPU/token full: direct / relayed", "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.1f / %.1f", r.P2.HarnessDirectFullUsPerToken, r.P2.HarnessRelayedFullUsPerToken), false, false
	})
	row("P3 relayed ÷ direct, 50 tok/s", fmt.Sprintf("≥ %g", targetP3), func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.4f", r.P3.PacedRatio), true, r.P3.PacedRatio >= targetP3
	})
	row("   relayed ÷ direct, full speed", "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.3f", r.P3.FullRatio), false, false
	})
	row("   full speed direct / relayed (ktok/s)", "", func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.0f / %.0f", r.P3.FullDirectTokS/1e3, r.P3.FullRelayedTokS/1e3), false, false
	})
	row("P4 daemon RSS idle (MB)", fmt.Sprintf("≤ %g", targetP4Idle), func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.1f", r.P4.IdleMB), true, r.P4.IdleMB <= targetP4Idle
	})
	row(fmt.Sprintf("P4 daemon RSS peak, %d streams (MB)", rep.Plan.P4Streams), fmt.Sprintf("≤ %g", targetP4Stream), func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.1f", r.P4.PeakMB), true, r.P4.PeakMB <= targetP4Stream
	})
	row("P5 start → 3 nodes registered, median (ms)", fmt.Sprintf("≤ %g", targetP5), func(r *TransportRun) (string, bool, bool) {
		return fmt.Sprintf("%.0f", r.P5.MedianMs), true, r.P5.MedianMs <= targetP5
	})
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	return nil
}

func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		LoadStart: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// busy reports a 1-minute load average above the CPU count at the start or the end.
func busy(m Machine) bool {
	for _, l := range []string{m.LoadStart, m.LoadEnd} {
		if v, err := strconv.ParseFloat(l, 64); err == nil && v > float64(m.NProc) {
			return true
		}
	}
	return false
}

// loadavg is the 1-minute load average ("" if unknown): other work on the machine
// shows in every number here.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
