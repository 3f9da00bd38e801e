// Package core is the PIN relay engine: one operator's link to the gateway, the nodes it
// registers, the jobs it runs against the operator's backends, the interviews, and the
// reconnect policy. It sees backends only through the backends interfaces and the
// gateway only through core/transport, so it is tested with fakes (core/pintest,
// backends/backendtest).
//
// Engine.Run blocks until its context ends; faces drive it through Controller and read
// it only through immutable Status snapshots.
package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
	"github.com/pin-client/pin-client/internal/config"
)

// Defaults for Options.
const (
	DefaultGrace        = 10 * time.Second // SIGTERM drain; under systemd's and Windows' stop limits
	DefaultOfflineGrace = 10 * time.Minute // "Go offline" waits for running jobs this long at most
	heartbeatEvery      = 15 * time.Second
	heartbeatGrace      = 40 * time.Second // failed heartbeats end the session only after this long without a good one
	modelsEvery         = 4                // heartbeats between model re-discovery and re-assertion (60 s)
	checkEvery          = 5                // model refreshes between backend checks (5 min; each probes a dozen endpoints)
	discoverTimeout     = 10 * time.Second
	flushTimeout        = 2 * time.Second // a drain's last wait for answers to go out
	maxRetryAfter       = time.Hour       // a gateway's retry_after_seconds is clamped to this
	chatTimeout         = 120 * time.Second
	streamTimeout       = 600 * time.Second
	ttsTimeout          = 300 * time.Second
	logLines            = 200
)

// Options configures an Engine. Config must be validated (config.Load does it).
type Options struct {
	Config       *config.Config
	Secret       protocol.Secret
	SecretSource string // shown in Status; never the value

	// Threads is -n: jobs (inference and TTS) running at once, all nodes together.
	Threads int
	// QueueSize bounds jobs waiting for a permit; past it a job is answered "busy" at
	// once. 0 → max(8, 4×Threads).
	QueueSize int

	// NewBackend builds the backend of a node (required). NewSpeaker builds the TTS
	// client for a node's ttsUri (nil → TTS requests are answered with an error).
	NewBackend func(config.Node) backends.Backend
	NewSpeaker func(ttsURI string) backends.Speaker

	Logger       *slog.Logger // nil → discard
	StartOffline bool         // the desktop app starts offline until the operator says go
	Grace        time.Duration
	OfflineGrace time.Duration

	// CheckNode, if set, inspects a node's backend at every (re)registration: nothing
	// listening, apiMode not matching the server, a model on CPU… (backends/detect).
	// Problems are shown in the node's status and logged with their fix.
	CheckNode func(ctx context.Context, n config.Node) []NodeProblem

	// Observer receives one report per finished job and interview; nil → none.
	Observer Observer

	// Dial connects to the gateway; nil → transport.Dial. Tests inject fakes.
	Dial func(ctx context.Context, kind string, o transport.Options) (transport.Conn, error)
	// Rand drives backoff jitter; nil → math/rand/v2.
	Rand func() float64
}

// NodeProblem is one finding of Options.CheckNode.
type NodeProblem struct {
	Severity string // "error" (cannot serve), "degraded" (serves slowly), "warning"
	Message  string // what is wrong
	Fix      string // what to do about it
}

// Engine is one operator's relay. Create with New; run with Run.
type Engine struct {
	opts  Options
	cfg   *config.Config
	log   *slog.Logger
	ring  *ringState
	nodes []*node

	permits  chan struct{} // global -n
	queueMax int32
	admitted atomic.Int32 // jobs admitted and not finished (running or waiting)
	waiting  atomic.Int32 // jobs admitted but not yet running
	requests atomic.Uint64

	wantOnline atomic.Bool
	paused     atomic.Bool   // the owner has the machine back (SetPause); see serving
	kick       chan struct{} // cap 1: wake Run (online/offline/reconnect now)
	logDirty   chan struct{} // cap 1: a log line arrived; republish

	bus bus
	mu  sync.Mutex
	st  Status             // guarded by mu: the working copy behind snapshots
	sv  context.CancelFunc // guarded by mu: ends the current session's serving (drain)

	pauseTimer *time.Timer // guarded by mu: ends a Pause with an end time

	hookServe func() // tests: runs between Run's wantOnline check and its locked re-check
}

// node is one configured node and its backends. Mutable fields live in Engine.st.Nodes.
type node struct {
	idx     int
	cfg     config.Node
	backend backends.Backend
	speaker backends.Speaker // nil without ttsUri
	slots   chan struct{}    // capacity
	models  atomic.Pointer[[]string]
}

func (n *node) modelList() []string {
	if p := n.models.Load(); p != nil {
		return *p
	}
	return nil
}

func (n *node) hasModel(m string) bool {
	for _, x := range n.modelList() {
		if x == m {
			return true
		}
	}
	return false
}

// New checks opts and builds an engine. It does not connect; Run does.
func New(opts Options) (*Engine, error) {
	if opts.Config == nil || len(opts.Config.Nodes) == 0 {
		return nil, errors.New("config: nodes: at least one node is required")
	}
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	if err := config.ValidateThreads(opts.Threads); err != nil {
		return nil, err
	}
	if opts.NewBackend == nil {
		return nil, errors.New("core: Options.NewBackend is required")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = max(8, 4*opts.Threads)
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.OfflineGrace <= 0 {
		opts.OfflineGrace = DefaultOfflineGrace
	}
	if opts.Dial == nil {
		opts.Dial = transport.Dial
	}
	e := &Engine{
		opts:     opts,
		cfg:      opts.Config,
		permits:  make(chan struct{}, opts.Threads),
		queueMax: int32(opts.QueueSize),
		kick:     make(chan struct{}, 1),
		logDirty: make(chan struct{}, 1),
	}
	base := slog.Handler(slog.DiscardHandler)
	if opts.Logger != nil {
		base = opts.Logger.Handler()
	}
	lr := newLogRing(base, logLines, func() {
		select {
		case e.logDirty <- struct{}{}:
		default:
		}
	})
	e.ring = lr.shared
	e.log = slog.New(lr)
	e.wantOnline.Store(!opts.StartOffline)

	e.st = Status{
		State:        StateOffline,
		Since:        time.Now(),
		Transport:    transportOf(e.cfg),
		Gateway:      e.cfg.ServerURL,
		SecretSource: opts.SecretSource,
	}
	for i, nc := range e.cfg.Nodes {
		n := &node{idx: i, cfg: nc, backend: opts.NewBackend(nc), slots: make(chan struct{}, max(1, nc.Capacity))}
		if nc.TTSURI != "" && opts.NewSpeaker != nil {
			n.speaker = opts.NewSpeaker(nc.TTSURI)
		}
		e.nodes = append(e.nodes, n)
		e.st.Nodes = append(e.st.Nodes, NodeStatus{
			Alias: nc.Alias, BackendURL: nc.InferenceURI, APIMode: nc.APIMode, Region: nc.Region,
			Capacity: nc.Capacity, Price: nc.Price(),
		})
	}
	e.publishLocked()
	return e, nil
}

func transportOf(c *config.Config) string {
	if c.Transport == transport.WS {
		return transport.WS
	}
	return transport.SSE
}

// Config returns the config the engine was built with (shared: callers must not
// modify it).
func (e *Engine) Config() *config.Config { return e.cfg }

// ---- Controller ----

var _ Controller = (*Engine)(nil)

func (e *Engine) Status() Status { return e.bus.load() }

func (e *Engine) Subscribe(ctx context.Context) <-chan Status { return e.bus.subscribe(ctx) }

func (e *Engine) GoOnline() {
	e.wantOnline.Store(true)
	e.poke()
}

func (e *Engine) GoOffline() {
	e.mu.Lock()
	e.wantOnline.Store(false) // under mu: Run re-checks it there before storing sv
	if e.sv != nil {
		e.sv()
	}
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) ReconnectNow() { e.poke() }

func (e *Engine) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// ---- Run: the policy loop ----

// Run connects and serves until ctx ends, reconnecting with backoff. Cancelling ctx
// drains running jobs (up to Options.Grace), delivers their results and returns nil.
// Run returns an error only for misuse; it is called at most once.
func (e *Engine) Run(ctx context.Context) error {
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go e.republishLogs(pubCtx)
	defer e.setState(StateOffline, "", time.Time{})

	e.log.Info("pin-client engine starting", "nodes", len(e.nodes), "threads", e.opts.Threads,
		"transport", transportOf(e.cfg), "gateway", e.cfg.ServerURL, "secret_source", e.opts.SecretSource)
	bo := backoff{floor: time.Duration(e.cfg.ReconnectDelaySecs) * time.Second, rand: e.opts.Rand}
	if bo.floor <= 0 {
		bo.floor = config.DefaultReconnectDelaySecs * time.Second
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		if !e.serving() {
			e.setState(StateOffline, "", time.Time{})
			select {
			case <-ctx.Done():
				return nil
			case <-e.kick:
				continue
			}
		}
		serveCtx, cancel := context.WithCancel(ctx)
		if e.hookServe != nil {
			e.hookServe()
		}
		// serving() is re-checked and sv stored under mu, which GoOffline also holds:
		// either GoOffline (or SetPause) sees this session's cancel, or Run sees it went offline.
		e.mu.Lock()
		if !e.serving() {
			e.mu.Unlock()
			cancel()
			continue
		}
		e.sv = cancel
		e.mu.Unlock()
		res := e.runSession(serveCtx, ctx)
		ended := serveCtx.Err() != nil // GoOffline (or Quit) ended it on purpose
		cancel()
		e.mu.Lock()
		e.sv = nil
		e.mu.Unlock()
		// Pokes that landed during the session (ReconnectNow or GoOnline while online)
		// are spent: they must not skip the backoff below.
		select {
		case <-e.kick:
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		if !e.serving() {
			e.log.Info("offline")
			continue
		}
		if ended { // taken offline, then back online while it drained: connect now
			continue
		}
		if res.onlineFor > 0 {
			// The gateway took us and the nodes were registered: that session was
			// healthy, however short. A gateway deploy that drops every link a few times
			// a minute must not push operators into minutes of backoff (issue 11); a
			// gateway that fails before registration still backs off exponentially.
			bo.reset()
		}
		delay := bo.next()
		state, msg := StateReconnecting, errLine(res.err)
		switch {
		case errors.Is(res.err, transport.ErrAuthRejected):
			state = StateAuthRejected
			delay = max(delay, authRetryFloor)
			msg = "the gateway rejected the credentials: check clientId, the API secret (pin-clientd secret set) and this machine's clock (requests are signed with the time)"
			e.log.Error("credentials rejected", "err", res.err, "retry_in", delay.Round(time.Second))
		case res.retryAfter > 0:
			state = StateInterviewFailed
			delay = max(delay, res.retryAfter) // honoured once: the next failure starts from backoff
			if res.interviewNote != "" {
				msg = res.interviewNote
			}
			e.log.Warn("gateway asked us to wait before reconnecting", "tag", "interview", "retry_in", delay.Round(time.Second))
		case !res.connected:
			e.log.Warn("cannot connect to the gateway", "err", res.err, "retry_in", delay.Round(time.Second))
		default:
			e.log.Warn("gateway link lost; reconnecting", "err", res.err, "retry_in", delay.Round(time.Second))
		}
		e.setState(state, msg, time.Now().Add(delay))
		if !e.wait(ctx, delay, state == StateInterviewFailed) {
			return nil
		}
	}
}

// wait sleeps d before the next attempt; false when ctx ended. A poke (Reconnect now,
// Go online/offline) ends it early, except that inside the gateway's retry window
// (holdRetry) only going offline does: a reconnect then would just fail again.
func (e *Engine) wait(ctx context.Context, d time.Duration, holdRetry bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-e.kick:
			if holdRetry && e.serving() {
				e.log.Info("reconnect not attempted: the gateway asked us to wait", "tag", "interview")
				continue
			}
			return true
		}
	}
}

func (e *Engine) republishLogs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.logDirty:
			e.mu.Lock()
			e.publishLocked()
			e.mu.Unlock()
		}
	}
}

// errLine is an error as one line for the operator.
func errLine(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ---- status bookkeeping ----

// publishLocked snapshots st (e.mu held) and publishes it.
func (e *Engine) publishLocked() {
	s := e.st
	s.Nodes = append([]NodeStatus(nil), e.st.Nodes...)
	s.Queued = int(e.waiting.Load())
	s.Log = e.ring.snapshot()
	s.Served, s.Failed, s.Tokens, s.Earnings, s.InFlight = 0, 0, 0, 0, 0
	for _, n := range s.Nodes {
		s.Served += n.Served
		s.Failed += n.Failed
		s.Tokens += n.PromptTokens + n.CompletionTokens
		s.Earnings += n.Earnings
		s.InFlight += n.InFlight
	}
	e.bus.publish(s)
}

func (e *Engine) update(f func(st *Status)) {
	e.mu.Lock()
	f(&e.st)
	e.publishLocked()
	e.mu.Unlock()
}

func (e *Engine) setState(s State, lastErr string, retryAt time.Time) {
	e.update(func(st *Status) {
		if st.State != s {
			st.Since = time.Now()
		}
		st.State, st.LastError, st.RetryAt = s, lastErr, retryAt
	})
}

func (e *Engine) updateNode(i int, f func(n *NodeStatus)) {
	e.update(func(st *Status) { f(&st.Nodes[i]) })
}
