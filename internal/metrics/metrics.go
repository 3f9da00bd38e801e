// Package metrics exports an engine to Prometheus (off by default; --metrics-addr or
// "metricsAddr"): /metrics in the Prometheus text format, /healthz (the process lives)
// and /readyz (online with every node registered).
//
// Job counters and histograms come from core.Observer reports; the link, queue and
// per-node gauges are read from the engine's Status snapshot at scrape time, so they are
// never stale. Everything is on the Metrics' own registry (with the Go runtime and
// process collectors), never the global one.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/version"
)

const ns = "pin_client"

// Histogram buckets in seconds. TTFT: from a warm small model on a GPU (tens of ms) to a
// cold load of a large model (a minute). Duration: a short answer to a long streamed
// generation (the stream timeout is 600 s).
var (
	ttftBuckets     = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60}
	durationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}
)

// maxModels bounds the model label values: the model comes from the gateway's request,
// so an odd or hostile gateway must not grow the series without end. Past the bound,
// new models are counted as "other".
const maxModels = 64

// tiers are the interview tiers exported with value 0 or 1 (core's words).
var tiers = []string{"verified", "standard", "slow", "failed"}

// Metrics is the Prometheus view of one engine. Create with New; it is safe for
// concurrent use.
type Metrics struct {
	ctl core.Controller
	reg *prometheus.Registry

	jobs       *prometheus.CounterVec
	tokens     *prometheus.CounterVec
	ttft       *prometheus.HistogramVec
	duration   *prometheus.HistogramVec
	reconnects prometheus.Counter

	mu     sync.Mutex
	models map[string]bool // guarded by mu: node+"\x00"+model pairs given their own label

	watching sync.Mutex // held by the one Watch loop that counts reconnects
}

// New builds the metrics of the engine behind ctl (whose Status is read at every
// scrape). Wire Observer into core.Options.Observer, and call Serve (or Watch, when
// serving Handler yourself) for reconnects_total.
func New(ctl core.Controller) *Metrics {
	m := &Metrics{ctl: ctl, reg: prometheus.NewRegistry(), models: map[string]bool{}}
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "jobs_total",
		Help: "Jobs and interviews finished, by node, model, kind (chat, tts, interview) and outcome (ok, error, busy, timeout, cancelled).",
	}, []string{"node", "model", "kind", "outcome"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "tokens_total",
		Help: "Tokens of served jobs (interviews excluded), by node, model and kind (prompt, completion).",
	}, []string{"node", "model", "kind"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "ttft_seconds",
		Help:    "Time from a streamed job's arrival to its first token, served jobs only.",
		Buckets: ttftBuckets,
	}, []string{"node", "model"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "job_duration_seconds",
		Help:    "Time from a job's arrival to its answer, served jobs only (chat and TTS).",
		Buckets: durationBuckets,
	}, []string{"node", "model"})
	m.reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "reconnects_total",
		Help: "Times the gateway link was lost while online (going offline on purpose does not count).",
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "build_info", Help: "Always 1; the version label is pin-client's version.",
		ConstLabels: prometheus.Labels{"version": version.Version},
	})
	build.Set(1)
	m.reg.MustRegister(m.jobs, m.tokens, m.ttft, m.duration, m.reconnects, build, statusCollector{ctl},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observer is the core.Observer to set as core.Options.Observer. It only counts.
func (m *Metrics) Observer() core.Observer { return observer{m} }

type observer struct{ m *Metrics }

func (o observer) JobDone(r core.JobReport) {
	m := o.m
	model := m.modelLabel(r.Node, r.Model)
	m.jobs.WithLabelValues(r.Node, model, r.Kind, r.Outcome).Inc()
	if r.Kind == core.KindInterview || r.Outcome != core.OutcomeOK {
		return
	}
	m.tokens.WithLabelValues(r.Node, model, "prompt").Add(float64(max(0, r.PromptTokens)))
	m.tokens.WithLabelValues(r.Node, model, "completion").Add(float64(max(0, r.CompletionTokens)))
	if r.TTFT > 0 {
		m.ttft.WithLabelValues(r.Node, model).Observe(r.TTFT.Seconds())
	}
	m.duration.WithLabelValues(r.Node, model).Observe(r.Duration.Seconds())
}

func (m *Metrics) modelLabel(node, model string) string {
	key := node + "\x00" + model
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.models[key] {
		return model
	}
	if len(m.models) >= maxModels {
		return "other"
	}
	m.models[key] = true
	return model
}

// Watch counts reconnects (transitions from online to any state but draining or
// offline) from the engine's status subscription until ctx ends. Serve runs it; call it
// yourself only when serving Handler on your own listener. A second concurrent Watch
// waits for the first to end, so nothing is counted twice.
func (m *Metrics) Watch(ctx context.Context) {
	m.watching.Lock()
	defer m.watching.Unlock()
	prev := core.State(-1)
	for st := range m.ctl.Subscribe(ctx) {
		if isReconnect(prev, st.State) {
			m.reconnects.Inc()
		}
		prev = st.State
	}
}

// isReconnect: the link was lost while online. The subscription coalesces snapshots, but
// a lost link stays non-online for at least the reconnect delay (seconds), far longer
// than this loop takes to read the next snapshot, so no loss is missed.
func isReconnect(prev, cur core.State) bool {
	return prev == core.StateOnline && cur != core.StateOnline && cur != core.StateDraining && cur != core.StateOffline
}

// statusCollector exports the Status snapshot read at scrape time.
type statusCollector struct{ ctl core.Controller }

var (
	descLinkUp     = prometheus.NewDesc(ns+"_link_up", "1 when the engine is online with the gateway, else 0.", nil, nil)
	descState      = prometheus.NewDesc(ns+"_state", "1 for the engine's current state, 0 for the others.", []string{"state"}, nil)
	descQueue      = prometheus.NewDesc(ns+"_queue_depth", "Jobs waiting for a free slot.", nil, nil)
	descInFlight   = prometheus.NewDesc(ns+"_in_flight", "Jobs running now, all nodes.", nil, nil)
	descRegistered = prometheus.NewDesc(ns+"_node_registered", "1 when the node is registered with the gateway (online, with a node id), else 0.", []string{"node"}, nil)
	descTier       = prometheus.NewDesc(ns+"_interview_tier", "1 for the node's current interview tier, 0 for the others; no series before the first interview.", []string{"node", "tier"}, nil)
	descEarnings   = prometheus.NewDesc(ns+"_earnings_usd_total", "Earnings in USD since the engine started (tokens × the node's price).", []string{"node"}, nil)
)

func (statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLinkUp, descState, descQueue, descInFlight, descRegistered, descTier, descEarnings} {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.ctl.Status()
	online := st.State == core.StateOnline
	ch <- prometheus.MustNewConstMetric(descLinkUp, prometheus.GaugeValue, b2f(online))
	for s := core.State(0); s.String() != "unknown"; s++ {
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, b2f(s == st.State), s.String())
	}
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(st.InFlight))
	for _, n := range st.Nodes {
		ch <- prometheus.MustNewConstMetric(descRegistered, prometheus.GaugeValue, b2f(online && n.ServerID != ""), n.Alias)
		ch <- prometheus.MustNewConstMetric(descEarnings, prometheus.CounterValue, n.Earnings, n.Alias)
		if n.Tier == "" {
			continue
		}
		known := false
		for _, t := range tiers {
			known = known || t == n.Tier
			ch <- prometheus.MustNewConstMetric(descTier, prometheus.GaugeValue, b2f(t == n.Tier), n.Alias, t)
		}
		if !known {
			ch <- prometheus.MustNewConstMetric(descTier, prometheus.GaugeValue, 1, n.Alias, n.Tier)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves /metrics, /healthz (200 "ok" while the process lives) and /readyz (200
// when online with every node registered, else 503 with one line saying why).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		msg, ok := ready(m.ctl.Status())
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, msg)
	})
	return mux
}

// ready says whether the engine serves with every node registered, in one line.
func ready(st core.Status) (string, bool) {
	if st.State != core.StateOnline {
		msg := "not ready: the engine is " + st.State.String()
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		return msg, false
	}
	for _, n := range st.Nodes {
		if n.ServerID == "" {
			return fmt.Sprintf("not ready: node %s is not registered with the gateway yet", n.Alias), false
		}
	}
	return fmt.Sprintf("ok: online, %d node(s) registered", len(st.Nodes)), true
}

// CheckAddr checks a metrics listen address: host:port with a loopback host (localhost,
// 127.0.0.1, ::1), unless allowRemote. An empty host (":9464") listens on every
// interface and is refused too. The error is one line naming how to opt in.
func CheckAddr(addr string, allowRemote bool) error {
	if err := config.CheckMetricsAddr(addr, allowRemote); err != nil {
		return fmt.Errorf("metrics address %w", err)
	}
	return nil
}

// Serve checks addr (CheckAddr), listens on it and serves Handler until ctx ends, while
// Watch counts reconnects. It returns nil when ctx ends, an error when addr is refused
// or cannot be listened on (in use, say). log may be nil.
func (m *Metrics) Serve(ctx context.Context, addr string, allowRemote bool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckAddr(addr, allowRemote); err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w; pick another port with --metrics-addr", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go m.Watch(watchCtx)
	log.Info("serving metrics", "addr", ln.Addr().String(), "paths", "/metrics /healthz /readyz")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("metrics server shutdown", "err", err)
	}
	return nil
}
