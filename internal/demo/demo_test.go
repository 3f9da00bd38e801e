package demo_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/demo"
	"github.com/pin-client/pin-client/internal/demo/demotest"
)

// run starts the demo with o, an engine and the consumer loop, waits until the engine
// served want jobs, then stops everything in the demo's order. It returns the demo
// (closed) and the engine's last status.
func run(t *testing.T, o demo.Options, want uint64) (*demo.Demo, core.Status, []demo.JobReport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := demo.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	eng, err := core.New(d.EngineOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	engCtx, stopEngine := context.WithCancel(ctx)
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()

	var mu sync.Mutex
	var reports []demo.JobReport
	conCtx, stopConsumers := context.WithCancel(ctx)
	conDone := make(chan error, 1)
	go func() {
		conDone <- d.RunConsumers(conCtx, time.Millisecond, func(r demo.JobReport) {
			mu.Lock()
			reports = append(reports, r)
			mu.Unlock()
		})
	}()
	var last core.Status
	for st := range eng.Subscribe(ctx) {
		last = st
		if st.Served >= want {
			break
		}
	}
	if last.Served < want {
		t.Fatalf("served %d jobs before the deadline, want %d; state %v, last error %q", last.Served, want, last.State, last.LastError)
	}
	stopConsumers()
	if err := <-conDone; err != nil {
		t.Errorf("RunConsumers: %v", err)
	}
	stopEngine()
	if err := <-engDone; err != nil {
		t.Errorf("engine Run: %v", err)
	}
	d.Close()
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("Close left the demo directory %s: %v", d.Dir, err)
	}
	if d.Gateway.SecretLeaked() {
		t.Error("the engine sent the raw demo secret to the gateway")
	}
	mu.Lock()
	defer mu.Unlock()
	return d, eng.Status(), append([]demo.JobReport(nil), reports...)
}

func TestBuiltInBackendServesJobs(t *testing.T) {
	demotest.Guard(t)
	d, st, reports := run(t, demo.Options{BuiltIn: true, TokenDelay: -1}, 5)
	if !d.Backend.BuiltIn || !strings.Contains(d.Backend.String(), demo.BuiltInLabel) {
		t.Errorf("backend %q is not labelled %q", d.Backend, demo.BuiltInLabel)
	}
	if st.Tokens == 0 || st.Earnings <= 0 {
		t.Errorf("tokens %d, earnings %g after %d jobs; want both counted", st.Tokens, st.Earnings, st.Served)
	}
	if n := st.Nodes[0]; n.Tier == "" || n.Tier == "failed" || n.Accuracy != 100 {
		t.Errorf("interview: tier %q, accuracy %g; the built-in backend must pass it", n.Tier, n.Accuracy)
	}
	if !strings.HasPrefix(d.Config.ClientID, "op_demo_") || !strings.HasPrefix(d.Config.ServerURL, "ws://127.0.0.1:") {
		t.Errorf("credentials %q at %q: want a throwaway op_demo_ id at the local gateway", d.Config.ClientID, d.Config.ServerURL)
	}
	answered := 0
	for _, r := range reports {
		if r.Err != nil {
			continue
		}
		answered++
		var want string
		for _, p := range demo.Prompts {
			if p.Text == r.Prompt {
				want = p.Answer
			}
		}
		if r.Answer != want || r.Tokens == 0 {
			t.Errorf("job %d: answer %q (%d tokens), want %q", r.N, r.Answer, r.Tokens, want)
		}
	}
	if answered == 0 {
		t.Errorf("no consumer request was answered: %+v", reports)
	}
	if s := d.Stats(); s.Answered != answered || s.Sent < s.Answered+s.Failed {
		t.Errorf("stats %+v, want %d answered", s, answered)
	}
}

// A detected server is used as it is: no built-in backend, the server's model.
func TestDetectedServerIsUsed(t *testing.T) {
	demotest.Guard(t)
	// Another demo's built-in backend stands in for a local Ollama.
	other, err := demo.Start(context.Background(), demo.Options{BuiltIn: true, TokenDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	found := demo.Backend{Kind: "ollama", URL: other.Backend.URL, APIMode: config.APIModeOllama, Model: demo.FakeModel, Capacity: 3}
	d, st, _ := run(t, demo.Options{Find: func(context.Context) (demo.Backend, bool) { return found, true }}, 2)
	if d.Backend != found || d.Backend.BuiltIn {
		t.Errorf("backend %+v, want the detected %+v", d.Backend, found)
	}
	if st.Nodes[0].BackendURL != found.URL || d.Config.Nodes[0].Capacity != 3 {
		t.Errorf("node serves %s with capacity %d, want %s with 3", st.Nodes[0].BackendURL, d.Config.Nodes[0].Capacity, found.URL)
	}
}

func TestNothingFoundFallsBackToBuiltIn(t *testing.T) {
	demotest.Guard(t)
	d, err := demo.Start(context.Background(), demo.Options{TokenDelay: -1, Find: func(context.Context) (demo.Backend, bool) { return demo.Backend{}, false }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Backend.BuiltIn || d.Backend.Model != demo.FakeModel {
		t.Errorf("backend %+v, want the built-in one", d.Backend)
	}
}
