package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The delay proxy adds its one-way delay in each direction and keeps byte order; many
// small writes are not slowed beyond the delay (no throttle).
func TestDelayProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	const oneWay = 30 * time.Millisecond
	p, err := startProxy(ln.Addr().String(), oneWay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var want bytes.Buffer
	start := time.Now()
	for i := range 2000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(c)
	first, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(start)
	rest := make([]byte, want.Len()-len(first))
	if _, err := io.ReadFull(r, rest); err != nil {
		t.Fatal(err)
	}
	all := time.Since(start)
	if first+string(rest) != want.String() {
		t.Fatal("the proxy reordered or lost bytes")
	}
	if rtt < 2*oneWay {
		t.Fatalf("echo after %v; want at least the round trip %v", rtt, 2*oneWay)
	}
	if all > 2*oneWay+time.Second {
		t.Fatalf("2000 small writes took %v through the proxy; it must not throttle", all)
	}
	if n := p.conns.Load(); n != 1 {
		t.Fatalf("conns = %d, want 1", n)
	}
}

func TestParseRTTs(t *testing.T) {
	got, err := parseRTTs("0, 50ms,25")
	if err != nil || fmt.Sprint(got) != "[0s 50ms 25ms]" {
		t.Fatalf("parseRTTs = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1ms", "1h"} {
		if _, err := parseRTTs(bad); err == nil {
			t.Errorf("parseRTTs(%q) accepted", bad)
		}
	}
}

func stream(start, first time.Duration, tokens int, gap time.Duration) streamResult {
	r := streamResult{Start: int64(start), First: int64(first), Tokens: tokens}
	for range tokens - 1 {
		r.Gaps = append(r.Gaps, gap)
	}
	r.End = r.First + int64(time.Duration(tokens-1)*gap)
	return r
}

func TestPhaseAndLatencyChecks(t *testing.T) {
	var dr, rr []streamResult
	for range 10 {
		dr = append(dr, stream(0, 20*time.Millisecond, 100, 20*time.Millisecond))
		rr = append(rr, stream(0, 75*time.Millisecond, 100, 50*time.Millisecond))
	}
	p := phase(dr, rr, 50*time.Millisecond, 400, 10*time.Millisecond)
	if p.AddedP99Ms != 55 || p.DaemonP99Ms != 5 || p.GapP99Ms != 50 || p.GapDirectP50 != 20 {
		t.Fatalf("phase = %+v", p)
	}
	if p.UplinkPerToken != 0.4 || p.DaemonCPUUsPerToken != 10 {
		t.Fatalf("per token: %+v", p)
	}
	if p.Ratio > 0.5 {
		t.Fatalf("ratio %v: the relayed streams took 2.5× longer", p.Ratio)
	}
	l := &LatencyRun{Name: "sse", RTTMs: 50, Burst: p, Steady: p, Ticks: 1, HeartbeatLateMs: 150}
	var missed []string
	for _, c := range latencyChecks(l) {
		if !c.Pass {
			missed = append(missed, c.Metric)
		}
	}
	if got := strings.Join(missed, ","); got != "burst relayed ÷ direct,steady relayed ÷ direct,heartbeat lateness" {
		t.Fatalf("missed %s", got)
	}
	if cs := latencyChecks(&LatencyRun{Name: "ws"}); cs != nil {
		t.Fatalf("RTT 0 has no latency targets; got %v", cs)
	}
	var out bytes.Buffer
	printLatency(&out, []*LatencyRun{l, {Name: "ws", GatewayConns: -1}})
	for _, want := range []string{"sse 50ms", "ws 0ms", "added TTFT p50 / p99", "daemon share", "consumer gap relayed",
		"POSTs) per token", "heartbeat lateness", "150.0 (1) MISS", "n/a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("latency table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTickLateness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// the models POST at registration (counted as a heartbeat by the gateway), tick 1
	// 30 ms late, tick 2 on time, then the 4th-tick style extra models POST right after
	times := []time.Time{at(10 * time.Millisecond), at(15*time.Second + 30*time.Millisecond),
		at(30 * time.Second), at(30*time.Second + 5*time.Millisecond)}
	late, ticks := tickLateness(t0, times)
	if ticks != 2 || late != 30*time.Millisecond {
		t.Fatalf("tickLateness = %v, %d ticks; want 30ms, 2", late, ticks)
	}
	if late, ticks := tickLateness(t0, times[:1]); ticks != 0 || late != 0 {
		t.Fatalf("no tick yet: %v, %d", late, ticks)
	}
	// a tick that never came, then a much later heartbeat: counted as tick 1, late
	if late, ticks := tickLateness(t0, []time.Time{at(20 * time.Second)}); ticks != 1 || late != 5*time.Second {
		t.Fatalf("late tick: %v, %d", late, ticks)
	}
}
