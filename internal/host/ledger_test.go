package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/ledger"
)

// reports is an Observer handing each report to the test; the Host calls it after the
// ledger committed the job's receipt.
type reports chan core.JobReport

func (r reports) JobDone(j core.JobReport) { r <- j }

func (r reports) next(t *testing.T, ctx context.Context) core.JobReport {
	t.Helper()
	select {
	case j := <-r:
		return j
	case <-ctx.Done():
		t.Fatal("no job report")
	}
	return core.JobReport{}
}

var hi = json.RawMessage(`[{"role":"user","content":"hi"}]`)

// TestLedgerEveryOutcome serves jobs through the fake gateway that end in every outcome
// and finds one receipt each, with the outcome and the reason, in the Host's ledger.
func TestLedgerEveryOutcome(t *testing.T) {
	f := newFixture(t)
	f.writeConfig(1, pintest.DefaultClientID)
	rep := make(reports, 16)
	o := f.options(control.KindDaemon)
	build := o.Build
	o.Build = func(ctx context.Context) (core.Options, error) {
		opts, err := build(ctx)
		opts.Threads, opts.QueueSize, opts.Observer = 1, 1, rep
		return opts, err
	}
	h, ctx := startServing(t, f, o)
	infer := func() *pintest.Job {
		t.Helper()
		j, err := f.gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Stream: true, Messages: hi})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	want := map[string]string{} // request id → outcome
	wait := func(id, outcome string) {
		t.Helper()
		j := rep.next(t, ctx)
		if j.RequestID != id || j.Outcome != outcome {
			t.Fatalf("report %+v, want %s for %s", j, outcome, id)
		}
		want[id] = outcome
	}

	ok := infer() // ok
	wait(ok.ID, ledger.OutcomeOK)

	f.ollama.SetScript(backendtest.Script{Status: 500, Body: `{"error":"out of memory"}`})
	bad := infer() // backend error
	wait(bad.ID, core.OutcomeError)

	hold := make(chan struct{})
	f.ollama.SetScript(backendtest.Script{Hold: hold, Deltas: backendtest.Answer("x").Deltas})
	running, queued, busy := infer(), infer(), infer()
	wait(busy.ID, ledger.OutcomeBusy)
	if err := f.gw.Send(&protocol.CancelRequest{RequestID: queued.ID}); err != nil { // cancelled by the gateway
		t.Fatal(err)
	}
	wait(queued.ID, ledger.OutcomeCancelled)
	if err := f.gw.DropLink(); err != nil { // the link goes away under the running job
		t.Fatal(err)
	}
	wait(running.ID, ledger.OutcomeLinkLost)
	close(hold)

	// Timeout: the gateway gives an interview 300 ms; the backend holds it.
	nodes, err := f.gw.WaitNodes(ctx, 1) // registered again after the dropped link
	if err != nil {
		t.Fatal(err)
	}
	f.ollama.SetScript(backendtest.Script{Hold: make(chan struct{})})
	if _, err := f.gw.StartInterview(ctx, protocol.InterviewRequest{InterviewID: "iv_slow", NodeID: nodes[0].ID, Model: "llama3:8b",
		Prompts: []protocol.Prompt{{ID: "p1", Prompt: "2+2?"}}, TimeoutMs: 300}); err != nil {
		t.Fatal(err)
	}
	wait("iv_slow", ledger.OutcomeTimeout)

	// Another operator's engine shares the state directory, and so the ledger: this
	// engine shows only its own operator's receipts.
	other, err := ledger.Open(ctx, ledger.Options{Path: host.LedgerPath(filepath.Join(f.dir, "state"))})
	if err != nil {
		t.Fatal(err)
	}
	other.Record(ledger.Receipt{Time: time.Now(), ClientID: "op_other", RequestID: "other", Node: "gpu-ollama",
		Model: "llama3:8b", Kind: ledger.KindChat, Outcome: ledger.OutcomeOK, CompletionTokens: 5})
	all, err := other.Jobs(ctx, ledger.Filter{})
	other.Close()
	if err != nil || len(all) != len(want)+1 {
		t.Fatalf("the file holds %d receipts, %v; want %d", len(all), err, len(want)+1)
	}
	rs, err := h.Jobs(ctx, ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(want) {
		t.Fatalf("%d receipts, want %d: %+v", len(rs), len(want), rs)
	}
	for _, r := range rs {
		w := want[r.RequestID]
		if w == core.OutcomeError {
			w = ledger.OutcomeBackendError
		}
		if r.Outcome != w || r.Node != "gpu-ollama" || r.ClientID != pintest.DefaultClientID {
			t.Errorf("receipt %+v, want outcome %s", r, w)
		}
		if (r.Outcome == ledger.OutcomeOK) != (r.Reason == "") {
			t.Errorf("receipt %s: outcome %s with reason %q", r.RequestID, r.Outcome, r.Reason)
		}
		switch r.Outcome {
		case ledger.OutcomeOK:
			if r.CompletionTokens != 2 || r.Earnings <= 0 || r.TTFT <= 0 {
				t.Errorf("ok receipt %+v", r)
			}
		case ledger.OutcomeBackendError:
			if !strings.Contains(r.Reason, "out of memory") {
				t.Errorf("backend error reason %q", r.Reason)
			}
		}
	}
	a, err := h.Activity(ctx, time.Hour)
	if err != nil || a.Outcomes[ledger.OutcomeOK] != 1 || len(a.Outcomes) != 6 {
		t.Errorf("Activity outcomes = %v, %v", a.Outcomes, err)
	}
	if _, err := h.Earnings(ctx, ledger.ByModel, time.Time{}); err != nil {
		t.Error(err)
	}
	// The same through the control API, as the desktop app reads it.
	var src ledger.ActivitySource = control.NewClient(f.sock, nil)
	if a2, err := src.Activity(ctx, time.Hour); err != nil || a2.Outcomes[ledger.OutcomeLinkLost] != 1 {
		t.Errorf("control Activity outcomes = %v, %v", a2.Outcomes, err)
	}
}

// A ledger that cannot be opened is one log line; the engine serves without it.
func TestLedgerUnavailableKeepsServing(t *testing.T) {
	f := newFixture(t)
	f.writeConfig(1, pintest.DefaultClientID)
	o := f.options(control.KindDaemon)
	var logs syncBuf
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if err := mkdirFile(host.LedgerPath(o.StateDir)); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	h, ctx := startServing(t, f, o)
	j, err := f.gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: hi})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := j.Wait(ctx); err != nil || !res.OK() {
		t.Fatalf("job without ledger: %+v, %v", res, err)
	}
	if _, err := h.Jobs(ctx, ledger.Filter{}); err != ledger.ErrOff {
		t.Errorf("Jobs without ledger: %v, want ErrOff", err)
	}
	if n := strings.Count(logs.String(), "job ledger unavailable"); n != 1 {
		t.Errorf("%d log lines about the ledger, want 1:\n%s", n, logs.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func mkdirFile(path string) error { return os.MkdirAll(path, 0o700) }

// ledgerOff: no file, and the queries say the ledger is off.
func TestLedgerOff(t *testing.T) {
	f := newFixture(t)
	b, _ := json.Marshal(map[string]any{"clientId": pintest.DefaultClientID, "serverUrl": f.gw.URL(), "transport": "ws", "ledgerOff": true,
		"nodes": []map[string]any{{"alias": "gpu-ollama", "inferenceUri": f.ollama.URL, "apiMode": "ollama", "region": "us-east", "capacity": 1}}})
	if err := os.WriteFile(f.cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o := f.options(control.KindDaemon)
	h, ctx := startServing(t, f, o)
	if _, err := h.Activity(ctx, time.Hour); err != ledger.ErrOff {
		t.Errorf("Activity with ledgerOff: %v, want ErrOff", err)
	}
	if _, err := os.Stat(host.LedgerPath(o.StateDir)); !os.IsNotExist(err) {
		t.Errorf("ledger file with ledgerOff: %v", err)
	}
}

// startServing runs a host of o and waits until the gateway sees its node.
func startServing(t *testing.T, f *fixture, o host.Options) (*host.Host, context.Context) {
	t.Helper()
	h, err := host.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	start(t, h)
	ctx := waitCtx(t)
	if _, err := f.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return h, ctx
}
