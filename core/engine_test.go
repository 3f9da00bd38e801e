package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
	"github.com/pin-client/pin-client/internal/config"
)

type rig struct {
	t      *testing.T
	e      *Engine
	d      *dialer
	be     map[string]*fakeBackend
	cancel context.CancelFunc
	done   chan error
}

// startRig runs an engine with fake backends (one per node alias) and dialer d, inside
// the caller's synctest bubble.
func startRig(t *testing.T, d *dialer, mod func(*Options), nodes ...config.Node) *rig {
	t.Helper()
	return startRigPrep(t, d, mod, nil, nodes...)
}

// startRigPrep is startRig with prep run on the backends before the engine starts.
func startRigPrep(t *testing.T, d *dialer, mod func(*Options), prep func(be map[string]*fakeBackend), nodes ...config.Node) *rig {
	t.Helper()
	if len(nodes) == 0 {
		nodes = []config.Node{testNode("gpu-1")}
	}
	r := &rig{t: t, d: d, be: map[string]*fakeBackend{}, done: make(chan error, 1)}
	for _, n := range nodes {
		r.be[n.Alias] = &fakeBackend{models: []string{"llama3:8b"}}
	}
	opts := Options{
		Config: testConfig(t, nodes...), Secret: protocol.NewSecret("pin_sk_test_fake"), Threads: 1,
		NewBackend: func(n config.Node) backends.Backend { return r.be[n.Alias] },
		NewSpeaker: func(string) backends.Speaker { return fakeSpeaker{audio: []byte("RIFF")} },
		Dial:       d.dial,
		Rand:       func() float64 { return 0.5 }, // no jitter
	}
	if mod != nil {
		mod(&opts)
	}
	if prep != nil {
		prep(r.be)
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// conn waits for the next dialled conn and for registration to finish.
func (r *rig) conn() *fakeConn {
	r.t.Helper()
	c := <-r.d.conns
	synctest.Wait()
	return c
}

func (r *rig) stop() error {
	r.cancel()
	return <-r.done
}

func TestHeartbeatAndModelRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		c := r.conn()
		if st := r.e.Status(); st.State != StateOnline {
			t.Fatalf("state = %v, want online", st.State)
		}
		_, regs, hb, adv := c.snapshot()
		if len(regs) != 1 || hb != 0 || len(adv) != 1 {
			t.Fatalf("after connect: regs=%d heartbeats=%d adverts=%d", len(regs), hb, len(adv))
		}
		time.Sleep(15*time.Second - time.Millisecond)
		synctest.Wait()
		if _, _, hb, _ = c.snapshot(); hb != 0 {
			t.Fatalf("heartbeat before 15 s: %d", hb)
		}
		// a model pulled while connected is advertised within 60 s, without a reconnect (G6)
		r.be["gpu-1"].setModels("llama3:8b", "qwen3:4b")
		time.Sleep(45*time.Second + time.Millisecond)
		synctest.Wait()
		_, regs, hb, adv = c.snapshot()
		if hb != 4 {
			t.Fatalf("heartbeats after 60 s = %d, want 4", hb)
		}
		if len(adv) != 2 || strings.Join(adv[1], ",") != "llama3:8b,qwen3:4b" {
			t.Fatalf("model re-assertion = %v", adv)
		}
		if len(regs) != 1 {
			t.Fatalf("re-registered on the first refresh that saw the change: %+v", regs)
		}
		time.Sleep(time.Minute) // the change persisted across two refreshes (issue 11 #11)
		synctest.Wait()
		if _, regs, _, _ = c.snapshot(); len(regs) != 2 || len(regs[1].Models) != 2 {
			t.Fatalf("changed node not re-registered: %+v", regs)
		}
		if got := r.d.dialed(); len(got) != 1 {
			t.Fatalf("reconnected: %v", got)
		}
	})
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDialer()
		hs := &transport.HandshakeError{Err: errBoom}
		for range 20 {
			d.fail(hs)
		}
		r := startRig(t, d, func(o *Options) { o.Config.Transport = transport.WS })
		start := time.Now()
		var at []time.Duration
		for len(at) < 10 {
			synctest.Wait()
			st := r.e.Status()
			if st.State != StateReconnecting {
				t.Fatalf("state = %v", st.State)
			}
			at = append(at, st.RetryAt.Sub(start))
			time.Sleep(time.Until(st.RetryAt) + time.Millisecond)
			start = time.Now()
		}
		want := []time.Duration{6, 10, 20, 40, 80, 160, 300, 300, 300, 300} // the first from the floor band [5 s, 7 s)
		for i, w := range want {
			if at[i].Round(time.Second) != w*time.Second {
				t.Fatalf("delays = %v, want %v s", at, want)
			}
		}
	})
}

func TestHandshakeFailureFallsBackToWS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDialer().fail(&transport.HandshakeError{Err: errBoom}).ok()
		r := startRig(t, d, nil)
		c := r.conn()
		if c.kind != transport.WS || r.e.Status().Transport != transport.WS {
			t.Fatalf("fell back to %q", c.kind)
		}
		if got := strings.Join(d.dialed(), ","); got != "sse,ws" {
			t.Fatalf("dialled %s", got)
		}
	})
}

func TestAuthRejectedIsNotRetriedOnWSNorInAStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDialer().fail(fmt.Errorf("%w (401)", transport.ErrAuthRejected)).ok()
		r := startRig(t, d, nil)
		synctest.Wait()
		st := r.e.Status()
		if st.State != StateAuthRejected || !strings.Contains(st.LastError, "secret set") {
			t.Fatalf("status = %v %q", st.State, st.LastError)
		}
		if got := strings.Join(d.dialed(), ","); got != "sse" {
			t.Fatalf("dialled %s right after a rejection (G9)", got)
		}
		if wait := time.Until(st.RetryAt); wait < authRetryFloor {
			t.Fatalf("retry in %v, want ≥ %v", wait, authRetryFloor)
		}
	})
}

func TestRetryAfterHonouredOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDialer().ok().ok().ok()
		r := startRig(t, d, nil)
		c := r.conn()
		ra := uint64(259)
		c.in <- &protocol.InterviewFailed{Reason: "recently_failed", RetryAfterSeconds: &ra, RequiredModels: []string{"llama3:8b"}}
		synctest.Wait()
		c.drop(nil)
		synctest.Wait()
		st := r.e.Status()
		if st.State != StateInterviewFailed || !strings.Contains(st.LastError, "ollama pull llama3:8b") {
			t.Fatalf("status = %v %q", st.State, st.LastError)
		}
		if w := time.Until(st.RetryAt); w != 259*time.Second {
			t.Fatalf("retry in %v, want 259s", w)
		}
		time.Sleep(259 * time.Second)
		c = r.conn()
		c.drop(nil)
		synctest.Wait()
		if w := time.Until(r.e.Status().RetryAt); w != 10*time.Second { // backoff, not 259 again
			t.Fatalf("second retry in %v, want 10s", w)
		}
	})
}

// A session the gateway accepted and registered resets the backoff, however short it
// was (a gateway deploy that drops links several times a minute); failed dials grow it.
func TestRegisteredSessionResetsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &transport.HandshakeError{Err: errBoom}
		d := newDialer().fail(hs).fail(hs).ok().fail(hs)
		r := startRig(t, d, func(o *Options) { o.Config.Transport = transport.WS })
		synctest.Wait()
		for _, want := range []time.Duration{6 * time.Second, 10 * time.Second} { // floor band, then ×2
			if w := time.Until(r.e.Status().RetryAt); w != want {
				t.Fatalf("retry after a failed dial in %v, want %v", w, want)
			}
			time.Sleep(want)
			synctest.Wait()
		}
		c := r.conn() // the third dial: registered
		time.Sleep(2 * time.Second)
		c.drop(nil)
		synctest.Wait()
		if w := time.Until(r.e.Status().RetryAt); w != 6*time.Second {
			t.Fatalf("retry after a registered 2 s session = %v, want the floor band's middle 6s", w)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if w := time.Until(r.e.Status().RetryAt); w != 10*time.Second { // failed again: ×2
			t.Fatalf("retry after the next failed dial = %v, want 10s", w)
		}
	})
}

func TestJobsAnsweredExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		be := r.be["gpu-1"]
		be.deltas = []backends.Delta{{Kind: backends.KindThinking, Text: "hm"}, {Kind: backends.KindContent, Text: "Hel"}, {Kind: backends.KindContent, Text: "lo"}}
		be.usage = backends.Usage{PromptTokens: 9, CompletionTokens: 21, TotalTokens: 30}
		c := r.conn()
		msgs := `[{"role":"user","content":"hi"}]`
		c.in <- inferReq("s1", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(msgs)})
		c.in <- inferReq("n1", map[string]any{"model": "llama3:8b", "messages": rawJSON(msgs)})
		c.in <- &protocol.InferenceRequest{RequestID: "bad1", Payload: []byte(`"nope"`)}
		c.in <- &protocol.InferenceRequest{RequestID: "bad2"}
		c.in <- inferReq("bad3", map[string]any{"model": "m", "messages": rawJSON(`{"role":"user"}`)})
		c.in <- &protocol.TTSRequest{RequestID: "t1", Payload: []byte(`{"model":"x","input":"hi"}`)}
		synctest.Wait()
		for _, id := range []string{"s1", "n1", "bad1", "bad2", "bad3", "t1"} {
			if n := len(c.terminals(id)); n != 1 {
				t.Errorf("%s: %d terminal answers", id, n)
			}
		}
		sent, _, _, _ := c.snapshot()
		var chunks []string
		for _, m := range sent {
			if ch, ok := m.(*protocol.InferenceChunk); ok {
				chunks = append(chunks, fmt.Sprintf("%d:%s:%s", ch.Index, ch.Kind, ch.Delta))
			}
		}
		if got := strings.Join(chunks, " "); got != "0:thinking:hm 1:content:Hel 2:content:lo" {
			t.Errorf("chunks = %s", got)
		}
		if _, ok := c.terminals("bad3")[0].(*protocol.InferenceError); !ok {
			t.Errorf("bad3 answered %T", c.terminals("bad3")[0])
		}
		// TTS without ttsUri on any node: the no-TTS error (§9)
		if e, ok := c.terminals("t1")[0].(*protocol.TTSError); !ok || e.Error != "no TTS backend configured on this operator" {
			t.Errorf("t1 answered %+v", c.terminals("t1")[0])
		}
		st := r.e.Status()
		if st.Served != 2 || st.Tokens != 60 {
			t.Errorf("served=%d tokens=%d", st.Served, st.Tokens)
		}
	})
}

func rawJSON(s string) any { return jsonRaw(s) }

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

func TestAdmissionLimitsAndQueueBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Threads = 1; o.QueueSize = 1 })
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		for i := range 3 {
			c.in <- inferReq(fmt.Sprint("r", i), map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		}
		synctest.Wait()
		if n := be.callCount(); n != 1 {
			t.Fatalf("backend calls with -n 1 = %d", n)
		}
		st := r.e.Status()
		if st.InFlight != 1 || st.Queued != 1 || st.Rejected != 1 {
			t.Fatalf("inflight=%d queued=%d rejected=%d", st.InFlight, st.Queued, st.Rejected)
		}
		busy, ok := c.terminals("r2")[0].(*protocol.InferenceError)
		if !ok || !strings.Contains(busy.Error, "operator busy") {
			t.Fatalf("r2 = %+v", c.terminals("r2"))
		}
		be.gate <- struct{}{}
		synctest.Wait()
		be.gate <- struct{}{}
		synctest.Wait()
		for _, id := range []string{"r0", "r1", "r2"} {
			if n := len(c.terminals(id)); n != 1 {
				t.Errorf("%s: %d answers", id, n)
			}
		}
	})
}

func TestPerNodeCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := testNode("gpu-1")
		n.Capacity = 1
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Threads = 4 }, n)
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("a", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		c.in <- inferReq("b", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		if n := be.callCount(); n != 1 {
			t.Fatalf("capacity 1 node runs %d jobs", n)
		}
		close(be.gate)
	})
}

func TestRoutingByModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := testNode("a"), testNode("b")
		b.APIMode = "openai"
		r := startRigPrep(t, newDialer().ok(), func(o *Options) { o.Threads = 2 }, func(be map[string]*fakeBackend) {
			be["a"].setModels("llama3:8b")
			be["b"].setModels("qwen3:4b")
		}, a, b)
		c := r.conn()
		c.in <- inferReq("q", map[string]any{"model": "qwen3:4b", "messages": rawJSON(`[]`)})
		c.in <- inferReq("l", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		c.in <- inferReq("x", map[string]any{"model": "unknown", "messages": rawJSON(`[]`)})
		synctest.Wait()
		if r.be["a"].callCount() != 2 || r.be["b"].callCount() != 1 {
			t.Fatalf("calls a=%d b=%d", r.be["a"].callCount(), r.be["b"].callCount())
		}
	})
}

func TestDrainOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("inflight", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		r.cancel()
		synctest.Wait()
		if st := r.e.Status(); st.State != StateDraining {
			t.Fatalf("state = %v", st.State)
		}
		c.in <- inferReq("late", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		if e, ok := c.terminals("late")[0].(*protocol.InferenceError); !ok || !strings.Contains(e.Error, "going offline") {
			t.Fatalf("late = %+v", c.terminals("late"))
		}
		time.Sleep(3 * time.Second)
		be.gate <- struct{}{}
		if err := <-r.done; err != nil {
			t.Fatal(err)
		}
		r.done <- nil // for Cleanup
		if _, ok := c.terminals("inflight")[0].(*protocol.InferenceResponse); !ok {
			t.Fatalf("in-flight job not delivered: %+v", c.terminals("inflight"))
		}
	})
}

func TestDrainGiveUpAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Grace = 7 * time.Second })
		r.be["gpu-1"].gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("stuck", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		start := time.Now()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		r.done <- nil
		if took := time.Since(start); took != 7*time.Second {
			t.Fatalf("shutdown took %v, want the 7s grace", took)
		}
	})
}

func TestGoOfflineAndOnline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok().ok(), func(o *Options) { o.StartOffline = true })
		synctest.Wait()
		if st := r.e.Status(); st.State != StateOffline || len(r.d.dialed()) != 0 {
			t.Fatalf("started %v, dialled %v", st.State, r.d.dialed())
		}
		r.e.GoOnline()
		c := r.conn()
		if r.e.Status().State != StateOnline {
			t.Fatal("not online")
		}
		r.e.GoOffline()
		synctest.Wait()
		if st := r.e.Status(); st.State != StateOffline {
			t.Fatalf("state = %v", st.State)
		}
		if _, _, _, _ = c.snapshot(); !c.closed {
			t.Fatal("link not closed when offline")
		}
	})
}

func TestInterviewMeasuresTTFTAndMapsNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := testNode("a"), testNode("b")
		r := startRig(t, newDialer().ok(), nil, a, b)
		r.be["b"].deltas = []backends.Delta{{Kind: backends.KindContent, Text: "4"}}
		r.be["b"].usage = backends.Usage{CompletionTokens: 2}
		r.be["b"].gate = make(chan struct{})
		c := r.conn()
		c.in <- &protocol.RegisterNodeAck{NodeID: "node_b", Alias: "b", Created: true}
		c.in <- &protocol.InterviewRequest{InterviewID: "iv1", NodeID: "node_b", Model: "llama3:8b",
			Prompts: []protocol.Prompt{{ID: "p1", Prompt: "2+2?", MaxTokens: 10}}}
		synctest.Wait()
		time.Sleep(50 * time.Millisecond)
		r.be["b"].gate <- struct{}{}
		synctest.Wait()
		if r.be["a"].callCount() != 0 {
			t.Fatal("interview ran on the wrong node")
		}
		if req := r.be["b"].reqs[0]; req.MaxTokens != nil || req.Temperature != nil {
			t.Fatal("interview was capped (L8)")
		}
		sent, _, _, _ := c.snapshot()
		var res *protocol.InterviewResult
		for _, m := range sent {
			if m, ok := m.(*protocol.InterviewResult); ok {
				res = m
			}
		}
		if res == nil || len(res.Results) != 1 {
			t.Fatalf("no interview result: %+v", sent)
		}
		p := res.Results[0]
		if p.TTFTMs != 50 || p.TotalMs != 50 || p.Response != "4" || p.TokensGenerated != 2 {
			t.Fatalf("result = %+v", p)
		}
		c.in <- &protocol.InterviewComplete{InterviewID: "iv1", NodeID: "node_b", Tier: "verified", Accuracy: 100, TokensPerSec: 42.5}
		synctest.Wait()
		if ns := r.e.Status().Nodes[1]; ns.Tier != "verified" || ns.ServerID != "node_b" {
			t.Fatalf("node status = %+v", ns)
		}
	})
}

func TestLinkLossAbortsStreamingJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok().ok(), nil)
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("s", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
		synctest.Wait()
		c.drop(errBoom)
		synctest.Wait()
		if st := r.e.Status(); st.InFlight != 0 || st.State != StateReconnecting {
			t.Fatalf("after drop: inflight=%d state=%v", st.InFlight, st.State)
		}
	})
}

func TestWalletOnWSOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) {
			o.Config.Transport = transport.WS
			o.Config.PayoutAddress = "0x1234567890abcdef1234567890abcdef12345678"
		})
		c := r.conn()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.wallet != "0x1234567890abcdef1234567890abcdef12345678" {
			t.Fatalf("wallet = %q", c.wallet)
		}
	})
}

func TestNodeProblemsShownAndLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs strings.Builder
		var checks atomic.Int32
		r := startRig(t, newDialer().ok(), func(o *Options) {
			o.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
			o.CheckNode = func(context.Context, config.Node) []NodeProblem {
				checks.Add(1)
				return []NodeProblem{{Severity: "degraded", Message: "llama3:8b runs on the CPU", Fix: "free GPU memory"}}
			}
		})
		r.conn()
		const want = "llama3:8b runs on the CPU: free GPU memory"
		if ns := r.e.Status().Nodes[0]; ns.Degraded != want {
			t.Fatalf("degraded = %q", ns.Degraded)
		}
		time.Sleep(2 * time.Minute) // two model refreshes: no backend check, findings kept
		synctest.Wait()
		if n := checks.Load(); n != 1 {
			t.Fatalf("backend checked %d times in 2 min, want once (at registration)", n)
		}
		if ns := r.e.Status().Nodes[0]; ns.Degraded != want {
			t.Fatalf("a refresh without a check cleared the finding: %q", ns.Degraded)
		}
		time.Sleep(3 * time.Minute) // the fifth refresh checks again
		synctest.Wait()
		if n := checks.Load(); n != 2 {
			t.Fatalf("backend checked %d times in 5 min, want 2", n)
		}
		if n := strings.Count(logs.String(), "runs on the CPU"); n != 1 {
			t.Fatalf("problem logged %d times", n)
		}
	})
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestStatusLogLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		c := r.conn()
		c.in <- inferReq("r1", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[{"role":"user","content":"my secret prompt"}]`)})
		synctest.Wait()
		var lines []string
		for _, l := range r.e.Status().Log {
			lines = append(lines, l.Message)
		}
		all := strings.Join(lines, "\n")
		if !strings.Contains(all, "[INFERENCE] job done") || !strings.Contains(all, "[NODE] node registered") {
			t.Fatalf("log lines:\n%s", all)
		}
		if strings.Contains(all, "my secret prompt") || strings.Contains(all, "pin_sk_test_fake") {
			t.Fatalf("prompt or secret in the status log:\n%s", all)
		}
	})
}

type panicBackend struct{ *fakeBackend }

func (panicBackend) Chat(context.Context, *backends.ChatRequest) (*backends.ChatResult, error) {
	panic("adapter bug")
}

func TestPanickingBackendIsAnsweredNotFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) {
			o.NewBackend = func(config.Node) backends.Backend { return panicBackend{&fakeBackend{models: []string{"m"}}} }
		})
		c := r.conn()
		c.in <- inferReq("p1", map[string]any{"model": "m", "messages": rawJSON(`[]`)})
		c.in <- inferReq("p2", map[string]any{"model": "m", "messages": rawJSON(`[]`)})
		synctest.Wait()
		for _, id := range []string{"p1", "p2"} {
			ans := c.terminals(id)
			if len(ans) != 1 {
				t.Fatalf("%s: %d answers", id, len(ans))
			}
			if e, ok := ans[0].(*protocol.InferenceError); !ok || !strings.Contains(e.Error, "internal error") {
				t.Fatalf("%s answered %+v", id, ans[0])
			}
		}
		if st := r.e.Status(); st.State != StateOnline || st.InFlight != 0 {
			t.Fatalf("after panics: %v inflight=%d", st.State, st.InFlight)
		}
	})
}

// Defect 1 (issue 11): jobs still running or queued when the grace period ends get
// their terminal answer before the link closes.
func TestDrainAnswersJobsCutByGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Grace = 7 * time.Second })
		r.be["gpu-1"].gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("running", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
		c.in <- inferReq("queued", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		start := time.Now()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		r.done <- nil
		if took := time.Since(start); took != 7*time.Second {
			t.Fatalf("shutdown took %v, want the 7s grace", took)
		}
		for _, id := range []string{"running", "queued"} {
			ans := c.terminals(id)
			if len(ans) != 1 {
				t.Fatalf("%s: %d terminal answers, want 1", id, len(ans))
			}
			if e, ok := ans[0].(*protocol.InferenceError); !ok || !strings.Contains(e.Error, "grace period") {
				t.Fatalf("%s answered %+v", id, ans[0])
			}
		}
	})
}

// Defect 4 (issue 11): a dead link ends a drain at once (its jobs cannot deliver).
func TestDrainEndsOnLinkLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		r.be["gpu-1"].gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("stuck", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		r.e.GoOffline()
		synctest.Wait()
		if st := r.e.Status(); st.State != StateDraining {
			t.Fatalf("state = %v, want draining", st.State)
		}
		c.drop(errBoom)
		synctest.Wait()
		if st := r.e.Status(); st.State != StateOffline || st.InFlight != 0 {
			t.Fatalf("after link loss while draining: %v inflight=%d, want offline at once", st.State, st.InFlight)
		}
	})
}

// Defect 4 (issue 11): Quit during a "go offline" drain waits Options.Grace, not the
// rest of OfflineGrace.
func TestQuitShortensOfflineDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Grace = 7 * time.Second })
		r.be["gpu-1"].gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("stuck", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		r.e.GoOffline()
		time.Sleep(time.Minute)
		start := time.Now()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		r.done <- nil
		if took := time.Since(start); took != 7*time.Second {
			t.Fatalf("quit during an offline drain took %v, want the 7s grace", took)
		}
		if ans := c.terminals("stuck"); len(ans) != 1 {
			t.Fatalf("stuck job: %d answers", len(ans))
		}
	})
}

// interviewResults returns the INTERVIEW_RESULTs sent on c.
func interviewResults(c *fakeConn) []*protocol.InterviewResult {
	sent, _, _, _ := c.snapshot()
	var out []*protocol.InterviewResult
	for _, m := range sent {
		if m, ok := m.(*protocol.InterviewResult); ok {
			out = append(out, m)
		}
	}
	return out
}

// Defect 2 (issue 11): going offline lets a running interview finish and submits it
// whole; none is started (or submitted) while draining, nor one cut by the grace.
func TestInterviewAndDrain(t *testing.T) {
	iv := func(id string) *protocol.InterviewRequest {
		return &protocol.InterviewRequest{InterviewID: id, Model: "llama3:8b", TimeoutMs: 60000,
			Prompts: []protocol.Prompt{{ID: "p1", Prompt: "2+2?"}, {ID: "p2", Prompt: "3+3?"}}}
	}
	t.Run("running interview finishes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := startRig(t, newDialer().ok(), nil)
			be := r.be["gpu-1"]
			be.deltas = []backends.Delta{{Kind: backends.KindContent, Text: "4"}}
			be.gate = make(chan struct{})
			c := r.conn()
			c.in <- iv("iv1")
			synctest.Wait()
			r.e.GoOffline()
			synctest.Wait()
			c.in <- iv("iv2") // arrives while draining: not started
			synctest.Wait()
			close(be.gate)
			synctest.Wait()
			res := interviewResults(c)
			if len(res) != 1 || res[0].InterviewID != "iv1" {
				t.Fatalf("interview results = %+v, want only iv1", res)
			}
			for _, p := range res[0].Results {
				if p.Error != "" || p.Response != "4" {
					t.Fatalf("prompt %s answered %+v", p.PromptID, p)
				}
			}
			if n := be.callCount(); n != 2 {
				t.Fatalf("backend calls = %d, want 2 (iv2 must not start)", n)
			}
			if st := r.e.Status(); st.State != StateOffline {
				t.Fatalf("state = %v, want offline", st.State)
			}
		})
	})
	t.Run("cut by the grace: not submitted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := startRig(t, newDialer().ok(), func(o *Options) { o.Grace = 7 * time.Second })
			r.be["gpu-1"].gate = make(chan struct{})
			c := r.conn()
			c.in <- iv("iv1")
			synctest.Wait()
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			r.done <- nil
			if res := interviewResults(c); len(res) != 0 {
				t.Fatalf("an interview cut by shutdown was submitted: %+v", res[0])
			}
		})
	})
}

// Defect 3 (issue 11): failed heartbeat POSTs (a load balancer's 502) end the session
// only once none succeeded for heartbeatGrace; running jobs keep running meanwhile. An
// answer saying the session itself is gone ends it at once.
func TestHeartbeatFailuresTolerated(t *testing.T) {
	t.Run("transient", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := startRig(t, newDialer().ok().ok(), nil)
			r.be["gpu-1"].gate = make(chan struct{})
			c := r.conn()
			c.in <- inferReq("long", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
			synctest.Wait()
			c.failHeartbeats(fmt.Errorf("heartbeat: POST /stream/heartbeat: 502 Bad Gateway"))
			time.Sleep(30*time.Second + time.Millisecond) // two failed heartbeats
			synctest.Wait()
			if st := r.e.Status(); st.State != StateOnline || len(r.d.dialed()) != 1 {
				t.Fatalf("after 2 failed heartbeats: %v, dialled %v; want still online", st.State, r.d.dialed())
			}
			c.failHeartbeats(nil)
			time.Sleep(15 * time.Second) // one success resets the count
			synctest.Wait()
			c.failHeartbeats(fmt.Errorf("heartbeat: POST /stream/heartbeat: 502 Bad Gateway"))
			time.Sleep(30 * time.Second)
			synctest.Wait()
			if st := r.e.Status(); st.State != StateOnline {
				t.Fatalf("30 s after the last good heartbeat: %v, want online", st.State)
			}
			r.be["gpu-1"].gate <- struct{}{}
			synctest.Wait()
			if _, ok := c.terminals("long")[0].(*protocol.InferenceResponse); !ok {
				t.Fatalf("job answered %+v", c.terminals("long"))
			}
			time.Sleep(15 * time.Second) // 45 s without a good heartbeat: give up
			synctest.Wait()
			if st := r.e.Status(); st.State != StateReconnecting || !strings.Contains(st.LastError, "502") {
				t.Fatalf("45 s without a heartbeat: %v %q, want reconnecting", st.State, st.LastError)
			}
		})
	})
	t.Run("session gone", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := startRig(t, newDialer().ok().ok(), nil)
			c := r.conn()
			c.failHeartbeats(fmt.Errorf("heartbeat: %w", transport.ErrSessionGone))
			time.Sleep(15*time.Second + time.Millisecond)
			synctest.Wait()
			if st := r.e.Status(); st.State != StateReconnecting {
				t.Fatalf("after the gateway forgot the session: %v, want reconnecting at once", st.State)
			}
		})
	})
}

// Defect 7 (issue 11): time waiting in the queue does not count against the backend
// timeout; the deadline starts when the job gets its slot.
func TestQueueWaitDoesNotEatBackendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Threads = 1 })
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("first", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		c.in <- inferReq("second", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		time.Sleep(100 * time.Second)
		be.gate <- struct{}{} // first done after 100 s; second starts now
		synctest.Wait()
		time.Sleep(100 * time.Second) // second has run 100 s of its 120 s (200 s since it arrived)
		select {
		case be.gate <- struct{}{}:
		case <-time.After(time.Second):
			t.Fatalf("second job no longer running: %+v", c.terminals("second"))
		}
		synctest.Wait()
		if _, ok := c.terminals("second")[0].(*protocol.InferenceResponse); !ok {
			t.Fatalf("second answered %+v", c.terminals("second")[0])
		}
	})
}

// Defect 8 (issue 11): a GoOffline landing between Run's wantOnline check and storing
// the session's cancel must keep the engine offline.
func TestGoOfflineDuringWakeUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), func(o *Options) { o.StartOffline = true })
		synctest.Wait()
		var once sync.Once
		r.e.hookServe = func() { once.Do(r.e.GoOffline) }
		r.e.GoOnline()
		synctest.Wait()
		if st := r.e.Status(); st.State != StateOffline || len(r.d.dialed()) != 0 {
			t.Fatalf("after GoOnline+GoOffline: %v, dialled %v; want offline, no dial", st.State, r.d.dialed())
		}
	})
}

// Defect 8 (issue 11): a poke during a live session (ReconnectNow, GoOnline) does not
// skip the backoff after the link drops.
func TestPokeDuringSessionKeepsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok().ok(), nil)
		c := r.conn()
		r.e.ReconnectNow()
		r.e.GoOnline()
		c.drop(errBoom)
		synctest.Wait()
		if got := r.d.dialed(); len(got) != 1 {
			t.Fatalf("reconnected after 0 s (dialled %v); want the floor band", got)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := r.d.dialed(); len(got) != 2 {
			t.Fatalf("dialled %v after the 6 s backoff", got)
		}
	})
}

// Defect 11 (issue 11): a node is re-registered (which brings an interview) only for a
// real change of its model set that persists across two refreshes; the union is still
// re-asserted at once.
func TestModelChangeDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		be := r.be["gpu-1"]
		c := r.conn()
		regsAt := func(when string, want int) {
			t.Helper()
			synctest.Wait()
			if _, regs, _, _ := c.snapshot(); len(regs) != want {
				t.Fatalf("%s: %d registrations, want %d", when, len(regs), want)
			}
		}
		be.setModels("qwen3:4b", "llama3:8b") // a pull
		time.Sleep(time.Minute + time.Millisecond)
		regsAt("first refresh after a pull", 1)
		if _, _, _, adv := c.snapshot(); strings.Join(adv[len(adv)-1], ",") != "llama3:8b,qwen3:4b" {
			t.Fatalf("union not re-asserted at once: %v", adv)
		}
		time.Sleep(time.Minute)
		regsAt("second refresh after a pull", 2)
		be.setModels("llama3:8b", "qwen3:4b") // same set, other order
		time.Sleep(2 * time.Minute)
		regsAt("reordered list", 2)
		be.setModels("llama3:8b") // JIT unload for one refresh…
		time.Sleep(time.Minute)
		be.setModels("qwen3:4b", "llama3:8b") // …and back
		time.Sleep(2 * time.Minute)
		regsAt("a flap", 2)
	})
}

// slowModels answers its second and later Models calls only after the ctx ended and a
// further second passed, and reports when it returned.
type slowModels struct {
	*fakeBackend
	calls    atomic.Int32
	returned atomic.Bool
}

func (b *slowModels) Models(ctx context.Context) ([]string, error) {
	if b.calls.Add(1) == 1 {
		return b.fakeBackend.Models(ctx)
	}
	<-ctx.Done()
	time.Sleep(time.Second)
	b.returned.Store(true)
	return nil, ctx.Err()
}

// Defect 11 (issue 11): shutdown awaits a model refresh in progress.
func TestShutdownAwaitsModelRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &slowModels{fakeBackend: &fakeBackend{models: []string{"llama3:8b"}}}
		r := startRig(t, newDialer().ok(), func(o *Options) {
			o.NewBackend = func(config.Node) backends.Backend { return be }
		})
		r.conn()
		time.Sleep(time.Minute + time.Millisecond) // the refresh is now waiting on the backend
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		r.done <- nil
		if !be.returned.Load() {
			t.Fatal("Run returned while a model refresh was still running")
		}
	})
}

// Defect 9 (issue 11): a retry_after beyond reason is clamped (to maxRetryAfter), and
// "Reconnect now" inside the gateway's retry window is ignored (a reconnect then only
// fails the interview again), while going offline still works.
func TestRetryAfterClampedAndReconnectNowWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok().ok(), nil)
		c := r.conn()
		huge := uint64(1 << 40)
		c.in <- &protocol.InterviewFailed{Reason: "recently_failed", RetryAfterSeconds: &huge}
		synctest.Wait()
		c.drop(nil)
		synctest.Wait()
		st := r.e.Status()
		if w := time.Until(st.RetryAt); st.State != StateInterviewFailed || w != maxRetryAfter {
			t.Fatalf("status %v, retry in %v; want interview-failed, retry in %v", st.State, w, maxRetryAfter)
		}
		r.e.ReconnectNow()
		synctest.Wait()
		if got := r.d.dialed(); len(got) != 1 {
			t.Fatalf("Reconnect now inside the retry window dialled: %v", got)
		}
		time.Sleep(maxRetryAfter)
		synctest.Wait()
		if got := r.d.dialed(); len(got) != 2 {
			t.Fatalf("dialled %v after the retry window", got)
		}
	})
}

// Issue 11 #6: when the uplink refuses output for its backlog (a stalled gateway), the
// streaming job stops and its terminal answer says why; a final answer that does not
// fit is replaced by an error answer. Every request still gets exactly one answer.
func TestUplinkBacklogAbortsJobWithReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newDialer().ok(), nil)
		be := r.be["gpu-1"]
		be.deltas = []backends.Delta{{Kind: backends.KindContent, Text: "a"}, {Kind: backends.KindContent, Text: "b"}, {Kind: backends.KindContent, Text: "c"}}
		c := r.conn()
		backlog := fmt.Errorf("%w (test)", transport.ErrBacklog)
		c.mu.Lock()
		c.refuse = func(m protocol.Message) error {
			switch m := m.(type) {
			case *protocol.InferenceChunk:
				if m.Delta == "b" {
					return backlog
				}
			case *protocol.InferenceResponse:
				return backlog
			}
			return nil
		}
		c.mu.Unlock()
		msgs := `[{"role":"user","content":"hi"}]`
		c.in <- inferReq("s1", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(msgs)})
		synctest.Wait()
		c.in <- inferReq("n1", map[string]any{"model": "llama3:8b", "messages": rawJSON(msgs)})
		synctest.Wait()
		for _, id := range []string{"s1", "n1"} {
			ts := c.terminals(id)
			if len(ts) != 1 {
				t.Fatalf("%s: %d terminal answers, want 1", id, len(ts))
			}
			e, ok := ts[0].(*protocol.InferenceError)
			if !ok || !strings.Contains(e.Error, "uplink backlog full") {
				t.Errorf("%s answered %#v; want an error naming the uplink backlog", id, ts[0])
			}
		}
		sent, _, _, _ := c.snapshot()
		for _, m := range sent {
			if ch, ok := m.(*protocol.InferenceChunk); ok && ch.Delta == "c" {
				t.Error("the job kept streaming after the uplink refused its output")
			}
		}
	})
}

// After a drop (a gateway restart), every node is registered again at once with the
// models of the last session, in parallel: a backend whose model list hangs does not
// hold the others, or itself, back until the discovery timeout (issue 11: nodes came
// back 7–31 s after a gateway restart). Discovery still runs and keeps the models.
func TestReconnectRegistersKnownModelsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := []config.Node{testNode("gpu-1"), testNode("gpu-2")}
		r := startRig(t, newDialer().ok().ok(), func(o *Options) { o.Config.Transport = transport.WS }, nodes...)
		c := r.conn()
		regsOf := func(c *fakeConn) []protocol.RegisterNode { _, regs, _, _ := c.snapshot(); return regs }
		if regs := regsOf(c); len(regs) != 2 {
			t.Fatalf("first session registered %d nodes, want 2", len(regs))
		}
		r.be["gpu-1"].mu.Lock()
		r.be["gpu-1"].hangModels = true
		r.be["gpu-1"].mu.Unlock()
		c.drop(nil)
		synctest.Wait()
		wait := time.Until(r.e.Status().RetryAt)
		time.Sleep(wait)
		c2 := r.conn() // the second session is up; discovery of gpu-1 hangs
		regs := regsOf(c2)
		if len(regs) != 2 || !slices.Equal(regs[0].Models, []string{"llama3:8b"}) || !slices.Equal(regs[1].Models, []string{"llama3:8b"}) {
			t.Fatalf("reconnect registered %+v before discovery ended; want both nodes with their known models", regs)
		}
		if st := r.e.Status(); st.State != StateOnline {
			t.Fatalf("state %v while discovery hangs, want online", st.State)
		}
		time.Sleep(discoverTimeout)
		synctest.Wait()
		if regs := regsOf(c2); len(regs) != 2 {
			t.Fatalf("after the hung discovery timed out: %d registrations, want still 2 (models unchanged)", len(regs))
		}
		if st := r.e.Status(); !slices.Equal(st.Nodes[0].Models, []string{"llama3:8b"}) || st.Nodes[0].BackendOK {
			t.Fatalf("gpu-1 after a failed discovery: %+v; want its known models and the backend shown as failing", st.Nodes[0])
		}
	})
}
