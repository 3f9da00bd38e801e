package core

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// recorder is an Observer that keeps every report.
type recorder struct {
	mu      sync.Mutex
	reports []JobReport
}

func (r *recorder) JobDone(j JobReport) {
	r.mu.Lock()
	r.reports = append(r.reports, j)
	r.mu.Unlock()
}

func (r *recorder) all() []JobReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]JobReport(nil), r.reports...)
}

// only returns the single report, failing unless there is exactly one.
func (r *recorder) only(t *testing.T) JobReport {
	t.Helper()
	all := r.all()
	if len(all) != 1 {
		t.Fatalf("%d reports, want 1: %+v", len(all), all)
	}
	r.mu.Lock()
	r.reports = nil
	r.mu.Unlock()
	return all[0]
}

func observed(rec *recorder) func(*Options) {
	return func(o *Options) { o.Observer = rec }
}

func TestObserverServedJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := startRig(t, newDialer().ok(), observed(rec))
		be := r.be["gpu-1"]
		be.deltas = []backends.Delta{{Kind: backends.KindContent, Text: "Hel"}, {Kind: backends.KindContent, Text: "lo"}}
		be.usage = backends.Usage{PromptTokens: 9, CompletionTokens: 21}
		be.gate = make(chan struct{})
		c := r.conn()

		c.in <- inferReq("s1", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
		synctest.Wait()
		time.Sleep(40 * time.Millisecond) // the backend thinks (fake clock)
		be.gate <- struct{}{}
		synctest.Wait()
		got := rec.only(t)
		want := JobReport{RequestID: "s1", Node: "gpu-1", Model: "llama3:8b", Kind: KindChat, Outcome: OutcomeOK,
			PromptTokens: 9, CompletionTokens: 21, TTFT: 40 * time.Millisecond, Duration: 40 * time.Millisecond, Price: 0.001}
		if got != want {
			t.Errorf("streamed job:\n got %+v\nwant %+v", got, want)
		}

		// Not streamed: no TTFT.
		c.in <- inferReq("n1", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		time.Sleep(time.Second)
		be.gate <- struct{}{}
		synctest.Wait()
		got = rec.only(t)
		if got.Outcome != OutcomeOK || got.TTFT != 0 || got.Duration != time.Second || got.CompletionTokens != 21 {
			t.Errorf("non-streamed job: %+v", got)
		}
		if n := len(c.terminals("n1")); n != 1 {
			t.Errorf("n1: %d answers", n)
		}
	})
}

func TestObserverFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := startRig(t, newDialer().ok(), observed(rec))
		be := r.be["gpu-1"]
		c := r.conn()

		be.err = errBoom
		c.in <- inferReq("e1", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
		synctest.Wait()
		got := rec.only(t)
		if got.Outcome != OutcomeError || got.Reason != "boom" || got.Node != "gpu-1" || got.Model != "llama3:8b" || got.TTFT != 0 || got.CompletionTokens != 0 {
			t.Errorf("backend error: %+v", got)
		}
		be.err = nil

		// An invalid payload is refused before it has a node.
		c.in <- &protocol.InferenceRequest{RequestID: "bad", Payload: []byte(`"nope"`)}
		synctest.Wait()
		if got := rec.only(t); got.Outcome != OutcomeError || got.Node != "" || got.Kind != KindChat || !strings.HasPrefix(got.Reason, "invalid INFERENCE_REQUEST") {
			t.Errorf("invalid payload: %+v", got)
		}
		// A message without request_id is not a job: nothing answers it, nothing reports it.
		c.in <- &protocol.InferenceRequest{Payload: []byte(`{}`)}
		synctest.Wait()
		if all := rec.all(); len(all) != 0 {
			t.Errorf("job without request_id reported: %+v", all)
		}

		// Timeout: the backend never answers within chatTimeout.
		be.gate = make(chan struct{})
		c.in <- inferReq("t1", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		time.Sleep(chatTimeout + time.Second)
		synctest.Wait()
		if got := rec.only(t); got.Outcome != OutcomeTimeout || got.Duration != chatTimeout || !strings.Contains(got.Reason, "did not finish within 2m0s") {
			t.Errorf("timeout: %+v", got)
		}

		// Cancelled by the gateway.
		c.in <- inferReq("c1", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		c.in <- &protocol.CancelRequest{RequestID: "c1"}
		synctest.Wait()
		if got := rec.only(t); got.Outcome != OutcomeCancelled || got.Reason != errCanceled.Error() {
			t.Errorf("cancelled: %+v", got)
		}

		// TTS without a TTS backend: refused.
		c.in <- &protocol.TTSRequest{RequestID: "tts1", Payload: []byte(`{"model":"x","input":"hi"}`)}
		synctest.Wait()
		if got := rec.only(t); got.Kind != KindTTS || got.Outcome != OutcomeError || got.Reason != "no TTS backend configured on this operator" {
			t.Errorf("tts refused: %+v", got)
		}
	})
}

func TestObserverBusyRejection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Threads, o.QueueSize, o.Observer = 1, 1, rec })
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		for _, id := range []string{"r0", "r1", "r2"} {
			c.in <- inferReq(id, map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		}
		synctest.Wait()
		got := rec.only(t) // r2, refused at once; r0 runs, r1 waits
		if got.Outcome != OutcomeBusy || got.Node != "gpu-1" || got.Model != "llama3:8b" || !strings.HasPrefix(got.Reason, "operator busy") {
			t.Errorf("busy: %+v", got)
		}
		be.gate <- struct{}{}
		be.gate <- struct{}{}
		synctest.Wait()
		all := rec.all()
		if len(all) != 2 || all[0].Outcome != OutcomeOK || all[1].Outcome != OutcomeOK {
			t.Errorf("after the gate: %+v", all)
		}
	})
}

func TestObserverTTSAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		n := testNode("voice")
		n.TTSURI = "http://127.0.0.1:8880"
		r := startRig(t, newDialer().ok(), observed(rec), n)
		c := r.conn()
		c.in <- &protocol.TTSRequest{RequestID: "tts1", Payload: []byte(`{"model":"kokoro","input":"hi"}`)}
		synctest.Wait()
		if got := rec.only(t); got.Kind != KindTTS || got.Outcome != OutcomeOK || got.Node != "voice" || got.Model != "kokoro" || got.TTFT != 0 {
			t.Errorf("tts: %+v", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := startRig(t, newDialer().ok(), func(o *Options) {
			o.Observer = rec
			o.NewBackend = func(config.Node) backends.Backend { return panicBackend{&fakeBackend{models: []string{"m"}}} }
		})
		c := r.conn()
		c.in <- inferReq("p1", map[string]any{"model": "m", "messages": rawJSON(`[]`)})
		synctest.Wait()
		if got := rec.only(t); got.Outcome != OutcomeError || !strings.Contains(got.Reason, "internal error") {
			t.Errorf("panic: %+v", got)
		}
	})
}

func TestObserverInterview(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		a, b := testNode("a"), testNode("b")
		r := startRig(t, newDialer().ok(), observed(rec), a, b)
		r.be["b"].deltas = []backends.Delta{{Kind: backends.KindContent, Text: "4"}}
		r.be["b"].usage = backends.Usage{CompletionTokens: 2}
		r.be["b"].gate = make(chan struct{})
		c := r.conn()
		c.in <- &protocol.RegisterNodeAck{NodeID: "node_b", Alias: "b", Created: true}
		c.in <- &protocol.InterviewRequest{InterviewID: "iv1", NodeID: "node_b", Model: "llama3:8b",
			Prompts: []protocol.Prompt{{ID: "p1", Prompt: "2+2?"}, {ID: "p2", Prompt: "3+3?"}}}
		synctest.Wait()
		time.Sleep(50 * time.Millisecond)
		r.be["b"].gate <- struct{}{}
		synctest.Wait()
		time.Sleep(10 * time.Millisecond)
		r.be["b"].gate <- struct{}{}
		synctest.Wait()
		got := rec.only(t)
		want := JobReport{RequestID: "iv1", Node: "b", Model: "llama3:8b", Kind: KindInterview, Outcome: OutcomeOK,
			CompletionTokens: 4, TTFT: 50 * time.Millisecond, Duration: 60 * time.Millisecond, Price: 0.001}
		if got != want {
			t.Errorf("interview:\n got %+v\nwant %+v", got, want)
		}

		// A failing prompt makes the interview an error naming it.
		r.be["b"].gate = nil
		r.be["b"].err = errBoom
		c.in <- &protocol.InterviewRequest{InterviewID: "iv2", NodeID: "node_b", Model: "llama3:8b",
			Prompts: []protocol.Prompt{{ID: "p1", Prompt: "2+2?"}}}
		synctest.Wait()
		if got := rec.only(t); got.Outcome != OutcomeError || got.Reason != "prompt p1: boom" || got.TTFT != 0 {
			t.Errorf("failed interview: %+v", got)
		}
	})
}

func TestObserverLinkLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := startRig(t, newDialer().ok(), observed(rec))
		be := r.be["gpu-1"]
		be.gate = make(chan struct{})
		c := r.conn()
		c.in <- inferReq("l1", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
		synctest.Wait()
		c.drop(errBoom) // the gateway link goes away mid-job
		synctest.Wait()
		var got JobReport
		for _, j := range rec.all() {
			if j.RequestID == "l1" {
				got = j
			}
		}
		if got.Outcome != OutcomeLinkLost || got.Reason != "gateway link lost mid-job" {
			t.Errorf("link lost: %+v", got)
		}
	})
}

// orderCheck is an Observer that records whether the job's terminal answer had already
// been sent when it was reported (it must not have been: the ledger commits first).
type orderCheck struct {
	mu    sync.Mutex
	c     *fakeConn
	early []string // jobs whose answer went out before their report
	seen  int
}

func (o *orderCheck) JobDone(j JobReport) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen++
	if len(o.c.terminals(j.RequestID)) > 0 {
		o.early = append(o.early, j.RequestID)
	}
}

func TestObserverReportsBeforeAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oc := &orderCheck{}
		r := startRig(t, newDialer().ok(), func(o *Options) { o.Threads, o.QueueSize, o.Observer = 1, 1, oc })
		be := r.be["gpu-1"]
		c := r.conn()
		oc.mu.Lock()
		oc.c = c
		oc.mu.Unlock()
		c.in <- inferReq("ok1", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(`[]`)})
		synctest.Wait()
		be.err = errBoom
		c.in <- inferReq("err1", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		be.err = nil
		c.in <- &protocol.InferenceRequest{RequestID: "bad1", Payload: []byte(`"nope"`)}
		synctest.Wait()
		be.gate = make(chan struct{})
		c.in <- inferReq("held", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		c.in <- inferReq("queued", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		c.in <- inferReq("busy1", map[string]any{"model": "llama3:8b", "messages": rawJSON(`[]`)})
		synctest.Wait()
		be.gate <- struct{}{}
		be.gate <- struct{}{}
		synctest.Wait()
		oc.mu.Lock()
		defer oc.mu.Unlock()
		if oc.seen != 6 || len(oc.early) != 0 {
			t.Errorf("%d reports; answered before their report: %v", oc.seen, oc.early)
		}
		for _, id := range []string{"ok1", "err1", "bad1", "held", "queued", "busy1"} {
			if n := len(c.terminals(id)); n != 1 {
				t.Errorf("%s: %d terminal answers", id, n)
			}
		}
	})
}
