package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/backends/openai"
	"github.com/pin-client/pin-client/internal/config"
)

func startTestFake(t *testing.T) (*fakeBackend, *registry) {
	t.Helper()
	reg := newRegistry()
	f, err := startFake(slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	return f, reg
}

// The daemon reads the fake through the real adapter and the real node check, so both
// must accept it: a vLLM with one model, streaming exactly max_tokens tokens.
func TestFakeSpeaksToTheRealAdapter(t *testing.T) {
	f, _ := startTestFake(t)
	ctx := t.Context()
	b := openai.New(f.URL, openai.Options{})
	models, err := b.Models(ctx)
	if err != nil || len(models) != 1 || models[0] != benchModel {
		t.Fatalf("Models = %v, %v; want [%s]", models, err, benchModel)
	}
	n := 7
	var deltas []string
	res, err := b.ChatStream(ctx, &backends.ChatRequest{Model: benchModel, MaxTokens: &n,
		Messages: json.RawMessage(`[{"role":"user","content":"hi"}]`)}, func(d backends.Delta) error {
		deltas = append(deltas, d.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) != n || strings.Join(deltas, "") != strings.Repeat(tokenText, n) {
		t.Errorf("deltas = %q; want %d × %q", deltas, n, tokenText)
	}
	if res.Incomplete || res.Usage == nil || res.Usage.CompletionTokens != n {
		t.Errorf("result incomplete=%v usage=%+v; want complete with %d completion tokens", res.Incomplete, res.Usage, n)
	}
	for _, p := range detect.Check(ctx, f.URL, config.APIModeOpenAI, detect.Options{}).Problems {
		if p.Severity == detect.SevError {
			t.Errorf("node check error on the fake: %s (%s)", p.Message, p.Fix)
		}
	}
}

func TestStreamCountsTokensAndRecordsLegs(t *testing.T) {
	f, reg := startTestFake(t)
	f.setPace(pace{TTFT: time.Millisecond, TokenDelay: 0})
	tg := newTarget("direct", f.URL)
	defer tg.close()
	r, err := tg.stream(t.Context(), reg, 12)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tokens != 12 {
		t.Errorf("tokens = %d, want 12", r.Tokens)
	}
	if !(r.Start < r.BackendIn && r.BackendIn < r.BackendFirst && r.BackendFirst <= r.First && r.First <= r.End) {
		t.Errorf("timestamps out of order: %+v", r)
	}
	if r.ttft() < time.Millisecond {
		t.Errorf("ttft %v is below the fake's 1 ms", r.ttft())
	}
	if len(reg.recs) != 0 {
		t.Errorf("registry keeps %d records after the stream", len(reg.recs))
	}
	if f.streams.Load() != 1 || f.inFlight.Load() != 0 {
		t.Errorf("fake saw %d streams, %d still in flight", f.streams.Load(), f.inFlight.Load())
	}
}

func TestRunConcurrentFailsOnBadTarget(t *testing.T) {
	f, reg := startTestFake(t)
	tg := newTarget("direct", f.URL+"/nope")
	defer tg.close()
	_, err := runConcurrent(t.Context(), tg, reg, 3, 2)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v; want the 404", err)
	}
}

func TestReadSSE(t *testing.T) {
	const role = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n"
	tests := []struct {
		name    string
		in      string
		content int
		done    bool
		err     string
		first   int
	}{
		{"tokens and done", role + "data: {\"choices\":[{\"delta\":{\"content\":\"tok \"}}]}\n\n" +
			"data: {\"choices\":[{\"delta\":{\"content\":\"tok tok \"}}]}\n\ndata: [DONE]\n\n", 12, true, "", 2},
		{"no done", role + "data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\n\n", 2, false, "", 1},
		{"empty content only", role + "data: [DONE]\n\n", 0, true, "", 0},
		{"error event", role + `data: {"error":{"message":"boom"}}` + "\n\n", 0, false, "boom", 0},
		{"comments and CRLF", ": keepalive\r\n\r\ndata: {\"delta\":{\"content\":\"xyz\"}}\r\n\r\ndata: [DONE]\r\n", 3, true, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			firsts := 0
			n, done, err := readSSE(strings.NewReader(tt.in), func() { firsts++ })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errStreamEvent) {
					t.Fatalf("err = %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil || n != tt.content || done != tt.done || firsts != tt.first {
				t.Errorf("readSSE = %d, %v, %v (event called %d×); want %d, %v, nil (%d×)", n, done, err, firsts, tt.content, tt.done, tt.first)
			}
		})
	}
}

func TestReadSSELongLine(t *testing.T) {
	in := "data: " + strings.Repeat("x", 40<<10) + "\n\n"
	if _, _, err := readSSE(strings.NewReader(in), func() {}); err == nil {
		t.Fatal("a 40 KiB line was accepted")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0.001: 1} {
		if got := percentile(ds, q); got != want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", q, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing is not 0")
	}
	if ds[0] != 100 {
		t.Error("percentile sorted its input")
	}
}

func TestThroughput(t *testing.T) {
	s := time.Second.Nanoseconds()
	rs := []streamResult{{Start: 0, End: 2 * s, Tokens: 100}, {Start: s, End: 4 * s, Tokens: 300}}
	n, per := throughput(rs)
	if n != 400 || per != 100 {
		t.Errorf("throughput = %d, %v; want 400 tokens at 100/s", n, per)
	}
}

func TestParseStatCPU(t *testing.T) {
	// comm with a space and a parenthesis; utime=250 stime=50 ticks.
	stat := "1234 (pin (clientd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestParseStatusMem(t *testing.T) {
	status := "Name:\tpin-clientd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n"
	rss, hwm, err := parseStatusMem([]byte(status))
	if err != nil || rss != 10<<20 || hwm != 20<<20 {
		t.Errorf("parseStatusMem = %d, %d, %v; want 10 MiB, 20 MiB", rss, hwm, err)
	}
	if _, _, err := parseStatusMem([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
	if _, _, err := parseStatusMem([]byte("VmRSS:\t10 MB\n")); err == nil {
		t.Error("VmRSS in MB accepted")
	}
}

func TestDaemonConfig(t *testing.T) {
	b, err := daemonConfig(clientID, "ws://127.0.0.1:1/api/v1/pin/ws", "ws", "http://127.0.0.1:2", 3, 256)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.Parse(b)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("generated config: %v, warnings %q\n%s", err, warnings, b)
	}
	if len(cfg.Nodes) != 3 || cfg.Nodes[2].Alias != "n3" || cfg.Nodes[0].Capacity != 256 || !cfg.UseWebSocket() || cfg.APISecret != "" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestBenchID(t *testing.T) {
	for in, want := range map[string]string{
		`{"model":"m","messages":[{"role":"user","content":"bench 42"}]}`: "42",
		`{"model":"m","messages":[{"role":"user","content":"hello"}]}`:    "",
		`{"model":"m","messages":[]}`:                                     "",
		`not json`:                                                        "",
	} {
		if got := benchID(json.RawMessage(in)); got != want {
			t.Errorf("benchID(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestRelayLegs(t *testing.T) {
	rs := []streamResult{
		{Start: 0, GatewayOut: 1, BackendIn: 3, BackendFirst: 10, GatewayFirst: 14, First: 20},
		{Start: 0, BackendIn: 3, BackendFirst: 10, First: 20}, // not relayed: skipped
	}
	gq, dq, dp, gp := relayLegs(rs)
	if len(dq) != 1 || gq[0] != 1 || dq[0] != 2 || dp[0] != 4 || gp[0] != 6 {
		t.Errorf("legs = %v %v %v %v; want [1] [2] [4] [6]", gq, dq, dp, gp)
	}
}

func TestChecks(t *testing.T) {
	good := &TransportRun{P1: P1{AddedP50Ms: 0.5, AddedP99Ms: 2}, P2: P2{PacedUsPerToken: 5, FullUsPerToken: 1},
		P3: P3{PacedRatio: 0.99}, P4: P4{IdleMB: 20, PeakMB: 60, Streams: 256}, P5: P5{MedianMs: 300}}
	cs, all := checks([]string{"ws"}, map[string]*TransportRun{"ws": good})
	if !all || len(cs) != 8 {
		t.Fatalf("targets met exactly: all=%v, %d checks: %+v", all, len(cs), cs)
	}
	bad := *good
	bad.P3.PacedRatio = 0.989
	cs, all = checks([]string{"sse", "ws"}, map[string]*TransportRun{"sse": &bad, "ws": good})
	var missed []string
	for _, c := range cs {
		if !c.Pass {
			missed = append(missed, c.Transport+" "+c.ID)
		}
	}
	if all || len(missed) != 1 || missed[0] != "sse P3" {
		t.Errorf("missed = %v (all=%v); want only sse P3", missed, all)
	}
}

func TestFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"-transports tcp":                   `"tcp" is not a transport`,
		"extra":                             `unexpected argument "extra"`,
		"-daemon-env GOMAXPROCS":            "is not KEY=VALUE",
		"-daemon-env PIN_API_SECRET=x":      "set by the harness",
		"-transports ws -daemon-env HOME=/": "set by the harness",
		"-rtt fast":                         `"fast" is not a round trip`,
		"-rtt -5ms":                         "out of range",
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), strings.Fields(args), io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), want) {
			t.Errorf("run %s: err = %v, stderr %q; want %q", args, err, stderr.String(), want)
		}
	}
}

func TestReportPrintsEveryTarget(t *testing.T) {
	r := &TransportRun{P4: P4{Streams: 256, BackendConcurrent: 200}}
	rep := &Report{Machine: Machine{NProc: 2, LoadStart: "9.5", LoadEnd: "1.0"}, Plan: fullPlan,
		Transports: map[string]*TransportRun{"sse": r}}
	rep.Checks, rep.AllPass = checks([]string{"sse"}, rep.Transports)
	var out bytes.Buffer
	printTable(&out, rep, []string{"sse"})
	for _, want := range []string{"P1 added TTFT p50", "P1 added TTFT p99", "P2 daemon CPU/token, 50 tok/s",
		"P3 relayed ÷ direct, 50 tok/s", "P4 daemon RSS idle", "P4 daemon RSS peak, 256 streams", "P5 start → 3 nodes",
		"only 200 of 256", "machine was busy", "MISS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
