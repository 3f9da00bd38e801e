package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pin-client/pin-client/core"
)

// fakeCtl is a core.Controller whose status the test sets. The embedded interface is
// nil: methods the metrics do not use would panic, and new Controller methods compile.
type fakeCtl struct {
	core.Controller
	mu   sync.Mutex
	st   core.Status
	subs chan core.Status // returned by Subscribe
}

func (f *fakeCtl) Status() core.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeCtl) set(st core.Status) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

func (f *fakeCtl) Subscribe(context.Context) <-chan core.Status { return f.subs }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, url+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// find returns the metric of family name whose labels include all of want ("k=v").
func find(fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is the value of a counter or gauge, or -1 when the series is missing.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := find(fams, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -2
}

func TestScrape(t *testing.T) {
	ctl := &fakeCtl{st: core.Status{
		State: core.StateOnline, Queued: 2, InFlight: 3,
		Nodes: []core.NodeStatus{
			{Alias: "gpu-1", ServerID: "node_1", Tier: "verified", Earnings: 0.5},
			{Alias: "gpu-2", Tier: "probation"},
			{Alias: "gpu-3"},
		},
	}}
	m := New(ctl)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	o := m.Observer()
	chat := func(outcome string, pt, ct int, ttft, d time.Duration) {
		o.JobDone(core.JobReport{Node: "gpu-1", Model: "llama3:8b", Kind: core.KindChat, Outcome: outcome,
			PromptTokens: pt, CompletionTokens: ct, TTFT: ttft, Duration: d, Price: 0.001})
	}
	chat(core.OutcomeOK, 9, 21, 300*time.Millisecond, 2*time.Second)
	chat(core.OutcomeOK, 1, 4, 0, 700*time.Millisecond) // not streamed
	chat(core.OutcomeError, 0, 0, 0, time.Second)
	chat(core.OutcomeBusy, 0, 0, 0, 0)
	o.JobDone(core.JobReport{Node: "gpu-1", Model: "llama3:8b", Kind: core.KindInterview, Outcome: core.OutcomeOK, CompletionTokens: 40, TTFT: time.Second, Duration: 9 * time.Second})
	o.JobDone(core.JobReport{Node: "gpu-2", Model: "kokoro", Kind: core.KindTTS, Outcome: core.OutcomeOK, Duration: 3 * time.Second})

	f := scrape(t, srv.URL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pin_client_jobs_total", []string{"node=gpu-1", "model=llama3:8b", "kind=chat", "outcome=ok"}, 2},
		{"pin_client_jobs_total", []string{"node=gpu-1", "kind=chat", "outcome=error"}, 1},
		{"pin_client_jobs_total", []string{"node=gpu-1", "kind=chat", "outcome=busy"}, 1},
		{"pin_client_jobs_total", []string{"node=gpu-1", "kind=interview", "outcome=ok"}, 1},
		{"pin_client_jobs_total", []string{"node=gpu-2", "model=kokoro", "kind=tts", "outcome=ok"}, 1},
		{"pin_client_tokens_total", []string{"node=gpu-1", "model=llama3:8b", "kind=prompt"}, 10},
		{"pin_client_tokens_total", []string{"node=gpu-1", "model=llama3:8b", "kind=completion"}, 25}, // not the interview's 40
		{"pin_client_link_up", nil, 1},
		{"pin_client_state", []string{"state=online"}, 1},
		{"pin_client_state", []string{"state=offline"}, 0},
		{"pin_client_state", []string{"state=interview-failed"}, 0},
		{"pin_client_queue_depth", nil, 2},
		{"pin_client_in_flight", nil, 3},
		{"pin_client_node_registered", []string{"node=gpu-1"}, 1},
		{"pin_client_node_registered", []string{"node=gpu-2"}, 0},
		{"pin_client_interview_tier", []string{"node=gpu-1", "tier=verified"}, 1},
		{"pin_client_interview_tier", []string{"node=gpu-1", "tier=slow"}, 0},
		{"pin_client_interview_tier", []string{"node=gpu-2", "tier=probation"}, 1},
		{"pin_client_interview_tier", []string{"node=gpu-2", "tier=verified"}, 0},
		{"pin_client_interview_tier", []string{"node=gpu-3"}, -1}, // no interview yet: no series
		{"pin_client_earnings_usd_total", []string{"node=gpu-1"}, 0.5},
		{"pin_client_reconnects_total", nil, 0},
		{"pin_client_build_info", nil, 1},
	} {
		if got := value(f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}

	ttft := find(f, "pin_client_ttft_seconds", "node=gpu-1").GetHistogram()
	if ttft.GetSampleCount() != 1 || ttft.GetSampleSum() != 0.3 {
		t.Errorf("ttft count=%d sum=%g, want 1 and 0.3", ttft.GetSampleCount(), ttft.GetSampleSum())
	}
	for _, b := range ttft.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 0.3 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("ttft bucket le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if n := len(ttft.Bucket); n != len(ttftBuckets)+1 || ttft.Bucket[0].GetUpperBound() != 0.05 || ttft.Bucket[n-2].GetUpperBound() != 60 { // +Inf last
		t.Errorf("ttft buckets: %v", ttft.Bucket)
	}
	dur := find(f, "pin_client_job_duration_seconds", "node=gpu-1").GetHistogram()
	if dur.GetSampleCount() != 2 || dur.GetSampleSum() != 2.7 {
		t.Errorf("duration gpu-1 count=%d sum=%g, want 2 and 2.7 (served jobs only)", dur.GetSampleCount(), dur.GetSampleSum())
	}
	if d := find(f, "pin_client_job_duration_seconds", "node=gpu-2", "model=kokoro").GetHistogram(); d.GetSampleCount() != 1 {
		t.Errorf("tts duration count = %d", d.GetSampleCount())
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if f[name] == nil {
			t.Errorf("%s missing: Go and process collectors", name)
		}
	}

	// Gauges follow the status at scrape time.
	ctl.set(core.Status{State: core.StateReconnecting, Nodes: []core.NodeStatus{{Alias: "gpu-1", ServerID: "node_1"}}})
	f = scrape(t, srv.URL)
	if value(f, "pin_client_link_up") != 0 || value(f, "pin_client_state", "state=reconnecting") != 1 ||
		value(f, "pin_client_state", "state=online") != 0 || value(f, "pin_client_node_registered", "node=gpu-1") != 0 {
		t.Errorf("after the link went down: link_up=%g reconnecting=%g registered=%g", value(f, "pin_client_link_up"),
			value(f, "pin_client_state", "state=reconnecting"), value(f, "pin_client_node_registered", "node=gpu-1"))
	}
}

func TestModelLabelsBounded(t *testing.T) {
	m := New(&fakeCtl{})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for i := range maxModels + 10 {
		m.Observer().JobDone(core.JobReport{Node: "n", Model: fmt.Sprint("m", i), Kind: core.KindChat, Outcome: core.OutcomeError})
	}
	f := scrape(t, srv.URL)
	jobs := f["pin_client_jobs_total"].Metric
	if len(jobs) != maxModels+1 {
		t.Errorf("%d series, want %d", len(jobs), maxModels+1)
	}
	if v := value(f, "pin_client_jobs_total", "model=other"); v != 10 {
		t.Errorf("other = %g, want 10", v)
	}
	if v := value(f, "pin_client_jobs_total", "model=m0"); v != 1 {
		t.Errorf("m0 = %g, want 1", v)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ctl := &fakeCtl{st: core.Status{State: core.StateConnecting, Nodes: []core.NodeStatus{{Alias: "a"}, {Alias: "b"}}}}
	srv := httptest.NewServer(New(ctl).Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	steps := []struct {
		st   core.Status
		code int
		body string
	}{
		{core.Status{State: core.StateConnecting, Nodes: []core.NodeStatus{{Alias: "a"}, {Alias: "b"}}}, 503, "not ready: the engine is connecting\n"},
		{core.Status{State: core.StateOnline, Nodes: []core.NodeStatus{{Alias: "a", ServerID: "n_a"}, {Alias: "b"}}}, 503,
			"not ready: node b is not registered with the gateway yet\n"},
		{core.Status{State: core.StateOnline, Nodes: []core.NodeStatus{{Alias: "a", ServerID: "n_a"}, {Alias: "b", ServerID: "n_b"}}}, 200,
			"ok: online, 2 node(s) registered\n"},
		{core.Status{State: core.StateReconnecting, LastError: "read: connection reset", Nodes: []core.NodeStatus{{Alias: "a", ServerID: "n_a"}, {Alias: "b", ServerID: "n_b"}}},
			503, "not ready: the engine is reconnecting: read: connection reset\n"},
	}
	for i, s := range steps {
		ctl.set(s.st)
		if code, body := get(t, srv.URL+"/readyz"); code != s.code || body != s.body {
			t.Errorf("step %d: /readyz = %d %q, want %d %q", i, code, body, s.code, s.body)
		}
	}
	if code, _ := get(t, srv.URL+"/nope"); code != 404 {
		t.Errorf("/nope = %d", code)
	}
}

func TestReconnectsCountedFromSubscription(t *testing.T) {
	ctl := &fakeCtl{subs: make(chan core.Status)} // unbuffered: each send is read before the next
	m := New(ctl)
	done := make(chan struct{})
	go func() { m.Watch(context.Background()); close(done) }()
	for _, s := range []core.State{
		core.StateOffline, core.StateConnecting, core.StateOnline,
		core.StateOnline,       // a log line republished: no change
		core.StateReconnecting, // 1: link lost
		core.StateConnecting, core.StateOnline,
		core.StateDraining, core.StateOffline, // the operator went offline: not counted
		core.StateConnecting, core.StateOnline,
		core.StateAuthRejected, // 2
		core.StateConnecting, core.StateOnline,
		core.StateInterviewFailed, // 3
	} {
		ctl.subs <- core.Status{State: s}
	}
	close(ctl.subs)
	<-done
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	if v := value(scrape(t, srv.URL), "pin_client_reconnects_total"); v != 3 {
		t.Errorf("reconnects_total = %g, want 3", v)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		want   string // "" = accepted
	}{
		{"127.0.0.1:9464", false, ""},
		{"[::1]:9464", false, ""},
		{"localhost:9464", false, ""},
		{"0.0.0.0:9464", false, `metrics address "0.0.0.0:9464" listens on every network interface, so anyone on the network could read your metrics; use "127.0.0.1:9464", or opt in with --metrics-allow-remote ("metricsAllowRemote": true in config.json)`},
		{":9464", false, `metrics address ":9464" listens on every network interface`},
		{"192.168.1.2:1", false, `metrics address "192.168.1.2:1" is not a loopback address, so anyone on the network could read your metrics; use "127.0.0.1:1", or opt in with --metrics-allow-remote`},
		{"metrics.example.com:9464", false, "is not a loopback address"},
		{"0.0.0.0:9464", true, ""},
		{":9464", true, ""},
		{"192.168.1.2:1", true, ""},
		{"127.0.0.1", false, `metrics address "127.0.0.1" is not host:port`},
		{"127.0.0.1:99999", true, `port "99999" is not a number from 0 to 65535`},
	} {
		err := CheckAddr(c.addr, c.remote)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckAddr(%q, %v) = %v, want ok", c.addr, c.remote, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckAddr(%q, %v) = %v, want %q", c.addr, c.remote, err, c.want)
		}
	}
}

// addrLogger captures the addr attribute of the "serving metrics" record.
type addrLogger struct {
	slog.Handler
	addr chan string
}

func (h addrLogger) Enabled(context.Context, slog.Level) bool { return true }

func (h addrLogger) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "serving metrics" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "addr" {
				h.addr <- a.Value.String()
			}
			return true
		})
	}
	return nil
}

func TestServe(t *testing.T) {
	ctl := &fakeCtl{st: core.Status{State: core.StateOffline}, subs: make(chan core.Status)}
	m := New(ctl)
	ctx, cancel := context.WithCancel(context.Background())
	h := addrLogger{addr: make(chan string, 1)}
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(ctx, "127.0.0.1:0", false, slog.New(h)) }()
	var addr string
	select {
	case addr = <-h.addr:
	case err := <-errc:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not start")
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/readyz"); code != 503 {
		t.Errorf("/readyz offline = %d", code)
	}
	ctl.subs <- core.Status{State: core.StateOnline} // Serve runs Watch
	ctl.subs <- core.Status{State: core.StateReconnecting}
	ctl.subs <- core.Status{State: core.StateConnecting} // read only after the previous was counted
	if v := value(scrape(t, "http://"+addr), "pin_client_reconnects_total"); v != 1 {
		t.Errorf("reconnects_total = %g, want 1", v)
	}

	// Port in use: a clear error, at once.
	if err := m.Serve(context.Background(), addr, false, nil); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Serve on a busy port: %v", err)
	}
	// Refused address: not even listened on.
	if err := m.Serve(context.Background(), "0.0.0.0:0", false, nil); err == nil || !strings.Contains(err.Error(), "--metrics-allow-remote") {
		t.Errorf("Serve on 0.0.0.0: %v", err)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still listening after Serve returned")
	}
}
