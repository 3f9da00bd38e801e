package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
)

// Run names: the two transports, and SSE over TLS where the gateway offers HTTP/2.
const runSSEH2 = "sse-h2"

// heartbeatEvery is the daemon's heartbeat period (core: 15 s).
const heartbeatEvery = 15 * time.Second

// Targets at RTT > 0 (issue 12).
const (
	targetRTTRatio   = 0.97
	targetTTFTSlack  = 10.0  // ms over the RTT, added TTFT p99
	targetGapSlack   = 20.0  // ms over the RTT, consumer gap p99
	targetHBLateness = 100.0 // ms
)

// LatencyRun is one transport at one round trip between pin-clientd and the gateway:
// a burst (Streams paced streams started at once, direct and relayed at the same time)
// and a steady load (Streams consumers each sending its next request when the last
// ends, direct and relayed at the same time).
type LatencyRun struct {
	Name   string  `json:"name"` // sse, ws, sse-h2
	RTTMs  float64 `json:"rtt_ms"`
	TLS    bool    `json:"tls"`
	Burst  Phase   `json:"burst"`
	Steady Phase   `json:"steady"`
	// HeartbeatLateMs is the latest heartbeat tick arrival at the gateway against the
	// daemon's 15 s schedule (anchored at its registration); Ticks how many were seen
	// (0: the run was shorter than one period).
	HeartbeatLateMs float64 `json:"heartbeat_late_ms"`
	Ticks           int     `json:"heartbeat_ticks"`
	// GatewayConns is the TCP connections pin-clientd opened to the gateway (through the
	// delay proxy; -1 when there is none, at RTT 0).
	GatewayConns int64 `json:"gateway_conns"`
}

// Phase is one load shape's numbers.
type Phase struct {
	Streams          int     `json:"streams"` // relayed streams measured
	Tokens           int     `json:"tokens"`  // relayed tokens
	DirectTokS       float64 `json:"direct_tok_s"`
	RelayedTokS      float64 `json:"relayed_tok_s"`
	Ratio            float64 `json:"ratio"`
	DirectTTFTP50Ms  float64 `json:"direct_ttft_p50_ms"`
	DirectTTFTP99Ms  float64 `json:"direct_ttft_p99_ms"`
	RelayedTTFTP50Ms float64 `json:"relayed_ttft_p50_ms"`
	RelayedTTFTP99Ms float64 `json:"relayed_ttft_p99_ms"`
	AddedP50Ms       float64 `json:"added_ttft_p50_ms"`
	AddedP99Ms       float64 `json:"added_ttft_p99_ms"`
	// DaemonP50Ms/P99Ms: the added TTFT minus the round trip, pin-clientd's own share
	// (with the local gateway's, which is the same at every RTT).
	DaemonP50Ms  float64 `json:"daemon_share_p50_ms"`
	DaemonP99Ms  float64 `json:"daemon_share_p99_ms"`
	GapDirectP50 float64 `json:"gap_direct_p50_ms"`
	GapDirectP99 float64 `json:"gap_direct_p99_ms"`
	GapP50Ms     float64 `json:"gap_relayed_p50_ms"`
	GapP99Ms     float64 `json:"gap_relayed_p99_ms"`
	// UplinkPerToken is INFERENCE_CHUNK messages the gateway received (POSTs on SSE,
	// frames on WS) per relayed token: 1 means no coalescing.
	UplinkPerToken float64 `json:"uplink_msgs_per_token"`
	// DaemonCPUUsPerToken is pin-clientd's CPU time over the phase per relayed token.
	DaemonCPUUsPerToken float64 `json:"daemon_cpu_us_per_token"`
}

// phase computes a Phase from the direct and relayed streams of one window.
func phase(dr, rr []streamResult, rtt time.Duration, chunkMsgs int, cpu time.Duration) Phase {
	p := Phase{Streams: len(rr)}
	_, p.DirectTokS = throughput(dr)
	p.Tokens, p.RelayedTokS = throughput(rr)
	if p.DirectTokS > 0 {
		p.Ratio = p.RelayedTokS / p.DirectTokS
	}
	dt, rt := ttfts(dr), ttfts(rr)
	p.DirectTTFTP50Ms, p.DirectTTFTP99Ms = ms(percentile(dt, 0.5)), ms(percentile(dt, 0.99))
	p.RelayedTTFTP50Ms, p.RelayedTTFTP99Ms = ms(percentile(rt, 0.5)), ms(percentile(rt, 0.99))
	p.AddedP50Ms, p.AddedP99Ms = p.RelayedTTFTP50Ms-p.DirectTTFTP50Ms, p.RelayedTTFTP99Ms-p.DirectTTFTP99Ms
	p.DaemonP50Ms, p.DaemonP99Ms = p.AddedP50Ms-ms(rtt), p.AddedP99Ms-ms(rtt)
	dg, rg := gaps(dr), gaps(rr)
	p.GapDirectP50, p.GapDirectP99 = ms(percentile(dg, 0.5)), ms(percentile(dg, 0.99))
	p.GapP50Ms, p.GapP99Ms = ms(percentile(rg, 0.5)), ms(percentile(rg, 0.99))
	if p.Tokens > 0 {
		p.UplinkPerToken = float64(chunkMsgs) / float64(p.Tokens)
		p.DaemonCPUUsPerToken = float64(cpu.Nanoseconds()) / 1e3 / float64(p.Tokens)
	}
	return p
}

func gaps(rs []streamResult) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.Gaps...)
	}
	return out
}

// chunkCounter counts the INFERENCE_CHUNKs the gateway received between mark and
// count, from its records (which are bounded, so count soon after the phase).
type chunkCounter struct {
	gw   *pintest.Gateway
	from time.Time
}

func countChunks(gw *pintest.Gateway) *chunkCounter { return &chunkCounter{gw: gw, from: time.Now()} }

func (c *chunkCounter) count() int {
	n := 0
	for _, f := range c.gw.Frames() {
		if f.Type == protocol.TypeInferenceChunk && !f.Time.Before(c.from) {
			n++
		}
	}
	return n
}

// heartbeatWatch records when every heartbeat reached the gateway (blocking on the
// gateway's state changes, no polling).
type heartbeatWatch struct {
	mu    sync.Mutex
	times []time.Time // guarded by mu
	stop  context.CancelFunc
	done  chan struct{}
}

func watchHeartbeats(gw *pintest.Gateway) *heartbeatWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &heartbeatWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		seen := gw.Heartbeats()
		for {
			if gw.Wait(ctx, func() bool { return gw.Heartbeats() > seen }) != nil {
				return
			}
			seen = gw.Heartbeats()
			at := gw.LastHeartbeat()
			w.mu.Lock()
			w.times = append(w.times, at)
			w.mu.Unlock()
		}
	}()
	return w
}

// lateness stops the watch and returns the latest tick against the daemon's schedule:
// its ticker starts once registration is done, i.e. after its first model assertion
// (MODEL_LIST, or the X-PIN-Models POST whose answer it waits for on SSE, one round
// trip), and tick k is due heartbeatEvery × k later.
func (w *heartbeatWatch) lateness(gw *pintest.Gateway, sse bool, rtt time.Duration) (late time.Duration, ticks int) {
	w.stop()
	<-w.done
	var anchor time.Time
	for _, a := range gw.Adverts() {
		if a.Source != "REGISTER_NODE" {
			anchor = a.Time
			break
		}
	}
	if anchor.IsZero() {
		return 0, 0
	}
	if sse {
		anchor = anchor.Add(rtt)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return tickLateness(anchor, w.times)
}

// tickLateness matches heartbeat arrivals (in order) to the ticks due every
// heartbeatEvery after anchor: tick k is the first arrival no earlier than 1 s before
// it is due (an earlier one is a registration-time or models POST). It returns the
// worst lateness and how many ticks were matched; it stops at the first tick with no
// arrival.
func tickLateness(anchor time.Time, times []time.Time) (late time.Duration, ticks int) {
	for k := 1; ; k++ {
		due := anchor.Add(time.Duration(k) * heartbeatEvery)
		found := false
		for _, t := range times {
			if !t.Before(due.Add(-time.Second)) {
				late, found = max(late, t.Sub(due)), true
				break
			}
		}
		if !found {
			return late, k - 1
		}
	}
}

// tlsGateway serves a fresh gateway over TLS with HTTP/2 offered (ALPN h2, http/1.1),
// on httptest's self-signed certificate for 127.0.0.1. certFile is that certificate in
// PEM, for the daemon's SSL_CERT_FILE; tc trusts it, for the consumers.
func (b *bench) tlsGateway() (gw *pintest.Gateway, secret, certFile string, tc *tls.Config, stop func(), err error) {
	gw, secret, err = b.newGateway(false)
	if err != nil {
		return nil, "", "", nil, nil, err
	}
	srv := httptest.NewUnstartedServer(gw)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	gw.SetBaseURL(srv.URL)
	certFile = filepath.Join(b.work, "gateway-cert.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o644); err != nil {
		srv.Close()
		gw.Close()
		return nil, "", "", nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return gw, secret, certFile, &tls.Config{RootCAs: pool}, func() { gw.Close(); srv.Close() }, nil
}

// serverURL is the daemon's serverUrl for a gateway at hostport.
func serverURL(hostport string, tls bool) string {
	if tls {
		return "wss://" + hostport + pintest.WSPath
	}
	return "ws://" + hostport + pintest.WSPath
}

func hostPort(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

// parseRTTs reads -rtt: comma-separated round trips, as durations (50ms) or plain
// milliseconds (50).
func parseRTTs(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			n, nerr := strconv.ParseFloat(f, 64)
			if nerr != nil {
				return nil, fmt.Errorf("-rtt: %q is not a round trip; use milliseconds or a duration, e.g. 0,50ms", f)
			}
			d = time.Duration(n * float64(time.Millisecond))
		}
		if d < 0 || d > 10*time.Second {
			return nil, fmt.Errorf("-rtt: %v is out of range (0 to 10s)", d)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-rtt: no round trip given; e.g. -rtt 0,50ms")
	}
	return out, nil
}

// latencyChecks are the RTT > 0 targets of one run.
func latencyChecks(l *LatencyRun) []Check {
	if l.RTTMs == 0 {
		return nil
	}
	var out []Check
	add := func(metric string, v float64, unit, target string, pass bool) {
		out = append(out, Check{ID: fmt.Sprintf("RTT%g", l.RTTMs), Transport: l.Name, Metric: metric, Value: v, Unit: unit, Target: target, Pass: pass})
	}
	for _, ph := range []struct {
		name string
		p    Phase
	}{{"burst", l.Burst}, {"steady", l.Steady}} {
		add(ph.name+" relayed ÷ direct", ph.p.Ratio, "", fmt.Sprintf("≥ %g", targetRTTRatio), ph.p.Ratio >= targetRTTRatio)
		add(ph.name+" added TTFT p99", ph.p.AddedP99Ms, "ms", fmt.Sprintf("≤ RTT + %g ms", targetTTFTSlack), ph.p.AddedP99Ms <= l.RTTMs+targetTTFTSlack)
		add(ph.name+" consumer gap p99", ph.p.GapP99Ms, "ms", fmt.Sprintf("≤ RTT + %g ms", targetGapSlack), ph.p.GapP99Ms <= l.RTTMs+targetGapSlack)
	}
	if l.Ticks > 0 {
		add("heartbeat lateness", l.HeartbeatLateMs, "ms", fmt.Sprintf("≤ %g ms", targetHBLateness), l.HeartbeatLateMs <= targetHBLateness)
	}
	return out
}

// printLatency prints one column per run.
func printLatency(w io.Writer, runs []*LatencyRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nround trip daemon ↔ gateway (delay proxy)\n%-44s", "metric")
	for _, l := range runs {
		fmt.Fprintf(w, " %16s", fmt.Sprintf("%s %gms", l.Name, l.RTTMs))
	}
	fmt.Fprintf(w, "  %s\n", "target at RTT > 0")
	row := func(name, target string, f func(l *LatencyRun) (string, bool, bool)) {
		fmt.Fprintf(w, "%-44s", name)
		for _, l := range runs {
			v, checked, pass := f(l)
			if checked && l.RTTMs > 0 {
				v += map[bool]string{true: " ok", false: " MISS"}[pass]
			}
			fmt.Fprintf(w, " %16s", v)
		}
		fmt.Fprintf(w, "  %s\n", target)
	}
	for _, ph := range []struct {
		name string
		get  func(l *LatencyRun) Phase
	}{
		{"burst", func(l *LatencyRun) Phase { return l.Burst }},
		{"steady", func(l *LatencyRun) Phase { return l.Steady }},
	} {
		row(ph.name+": relayed ÷ direct tokens/s", fmt.Sprintf("≥ %g", targetRTTRatio), func(l *LatencyRun) (string, bool, bool) {
			p := ph.get(l)
			return fmt.Sprintf("%.3f", p.Ratio), true, p.Ratio >= targetRTTRatio
		})
		row("   added TTFT p50 / p99 (ms)", fmt.Sprintf("p99 ≤ RTT + %g", targetTTFTSlack), func(l *LatencyRun) (string, bool, bool) {
			p := ph.get(l)
			return fmt.Sprintf("%.1f / %.1f", p.AddedP50Ms, p.AddedP99Ms), true, p.AddedP99Ms <= l.RTTMs+targetTTFTSlack
		})
		row("   daemon share = added − RTT p50 / p99", "", func(l *LatencyRun) (string, bool, bool) {
			p := ph.get(l)
			return fmt.Sprintf("%.1f / %.1f", p.DaemonP50Ms, p.DaemonP99Ms), false, false
		})
		row("   consumer gap relayed p50 / p99 (ms)", fmt.Sprintf("p99 ≤ RTT + %g", targetGapSlack), func(l *LatencyRun) (string, bool, bool) {
			p := ph.get(l)
			return fmt.Sprintf("%.1f / %.1f", p.GapP50Ms, p.GapP99Ms), true, p.GapP99Ms <= l.RTTMs+targetGapSlack
		})
		row("   consumer gap direct p50 / p99 (ms)", "", func(l *LatencyRun) (string, bool, bool) {
			p := ph.get(l)
			return fmt.Sprintf("%.1f / %.1f", p.GapDirectP50, p.GapDirectP99), false, false
		})
		row("   uplink msgs (SSE: POSTs) per token", "", func(l *LatencyRun) (string, bool, bool) {
			return fmt.Sprintf("%.3f", ph.get(l).UplinkPerToken), false, false
		})
		row("   daemon CPU per token (µs)", "", func(l *LatencyRun) (string, bool, bool) {
			return fmt.Sprintf("%.1f", ph.get(l).DaemonCPUUsPerToken), false, false
		})
	}
	row("heartbeat lateness, worst tick (ms)", fmt.Sprintf("≤ %g", targetHBLateness), func(l *LatencyRun) (string, bool, bool) {
		if l.Ticks == 0 {
			return "n/a", false, false
		}
		return fmt.Sprintf("%.1f (%d)", l.HeartbeatLateMs, l.Ticks), true, l.HeartbeatLateMs <= targetHBLateness
	})
	row("TCP connections to the gateway", "", func(l *LatencyRun) (string, bool, bool) {
		if l.GatewayConns < 0 {
			return "-", false, false
		}
		return strconv.FormatInt(l.GatewayConns, 10), false, false
	})
}

// newTLSTarget is newTarget trusting tc.
func newTLSTarget(name, base string, tc *tls.Config) *target {
	t := newTarget(name, base)
	t.hc.Transport.(*http.Transport).TLSClientConfig = tc
	return t
}
