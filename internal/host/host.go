// Package host runs one relay engine in a process and makes it reachable: it takes the
// one-engine-per-operator lock (internal/enginelock), serves the local control API
// (core/control) and, when asked, Prometheus metrics (internal/metrics), and reloads the
// engine from its config file on request without restarting the process.
//
// Every face runs its engine through a Host: `pin-clientd` in a terminal (KindDaemon),
// the installed background service (KindService) and the desktop app's own engine
// (KindApp). The Host is itself a core.Controller, so whoever holds it — or a control
// client on the other end of the socket — cannot tell it from a bare engine; its status
// subscription survives reloads.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/enginelock"
	"github.com/pin-client/pin-client/internal/ledger"
	"github.com/pin-client/pin-client/internal/metrics"
	"github.com/pin-client/pin-client/internal/owner"
	"github.com/pin-client/pin-client/internal/version"
)

// NoSocket as Options.Socket runs the engine without a control endpoint.
const NoSocket = "-"

// Options configures a Host.
type Options struct {
	Kind  string // control.KindDaemon, KindService or KindApp
	Scope string // control.ScopeUser or ScopeSystem; "" → user
	// ConfigPath is the config file the engine was built from; shown in Info and
	// re-read by Build on reload.
	ConfigPath string
	// Build loads the config and the secret and returns the engine's options (required).
	// It is called once by New and again on every Reload; an error leaves the running
	// engine untouched and is returned to whoever asked for the reload.
	Build func(ctx context.Context) (core.Options, error)

	// StateDir holds the engine lock; "" → enginelock.UserStateDir() (user scope) or
	// enginelock.SystemStateDir() (system scope).
	StateDir string
	// Socket is the control endpoint; "" → control.UserSocketPath() or
	// control.SystemSocketPath() by Scope; NoSocket → none.
	Socket string
	// OtherEndpoints are the control endpoints of engines in the other scope, asked
	// before starting (their locks live in another directory); nil → the system
	// endpoint for a user engine, every user's endpoint for the system service (none
	// when Socket is set explicitly).
	OtherEndpoints []string
	// SocketGroup, when > 0, lets members of that group use a system endpoint (0660).
	SocketGroup int

	// MetricsAddr, when set, serves /metrics, /healthz and /readyz there; "" → the
	// first config's metricsAddr (off when that is empty too). MetricsAllowRemote (or
	// the config's metricsAllowRemote) permits a non-loopback address.
	MetricsAddr        string
	MetricsAllowRemote bool

	Logger *slog.Logger // nil → discard

	// OnReload, if set, is called with the new config after a reload swapped engines
	// (from Run's goroutine; it must not block). The desktop app refreshes its copy.
	OnReload func(*config.Config)
}

// Host is one engine in this process. Create it with New, run it with Run.
type Host struct {
	o       Options
	log     *slog.Logger
	started time.Time
	metrics *metrics.Metrics // nil without MetricsAddr
	bus     core.StatusBus
	led     atomic.Pointer[ledger.Store] // the job ledger, open while Run runs; nil when off

	reloads chan reloadReq

	mu       sync.Mutex
	eng      *core.Engine // guarded by mu: the engine serving now
	clientID string       // guarded by mu
	want     bool         // guarded by mu: the operator wants it online (carried across reloads)
	socket   string       // guarded by mu: the endpoint actually served, "" when none
	// carry is the recent log of the engines before this one (bounded), shown before
	// the current engine's own lines so a reload does not blank the operator's log.
	carry []core.LogLine // guarded by mu
	// merged caches the last carry+engine log for publish: the engine shares one log
	// snapshot between statuses until a line arrives, so most publishes reuse it.
	mergedFrom []core.LogLine // guarded by mu: the engine log merged last
	merged     []core.LogLine // guarded by mu

	owner *owner.Runner  // pause, schedule, busy (owner.go)
	pause owner.Decision // guarded by mu: applied to every engine, across reloads
}

// keepLog bounds carry; the engine keeps as many lines of its own.
const keepLog = 200

type reloadReq struct {
	ctx   context.Context
	reply chan error
}

var (
	_ core.Controller = (*Host)(nil)
	_ control.Engine  = (*Host)(nil)
)

// New builds the first engine (so a bad config or a missing secret is reported before
// anything starts). It does not lock, listen or connect; Run does.
func New(ctx context.Context, o Options) (*Host, error) {
	if o.Build == nil {
		return nil, errors.New("host: Options.Build is required")
	}
	if o.Scope == "" {
		o.Scope = control.ScopeUser
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{o: o, log: o.Logger, started: time.Now(), reloads: make(chan reloadReq)}
	opts, err := o.Build(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Config != nil {
		if h.o.MetricsAddr == "" {
			h.o.MetricsAddr = opts.Config.MetricsAddr
		}
		h.o.MetricsAllowRemote = h.o.MetricsAllowRemote || opts.Config.MetricsAllowRemote
	}
	if h.o.MetricsAddr != "" {
		if err := metrics.CheckAddr(h.o.MetricsAddr, h.o.MetricsAllowRemote); err != nil {
			return nil, err
		}
		h.metrics = metrics.New(h)
	}
	eng, id, want, err := h.newEngine(opts)
	if err != nil {
		return nil, err
	}
	h.eng, h.clientID, h.want = eng, id, want
	h.bus.Publish(eng.Status())
	h.initOwner(opts.Config)
	return h, nil
}

// build calls Options.Build and makes the engine.
func (h *Host) build(ctx context.Context) (eng *core.Engine, clientID string, wantOnline bool, err error) {
	opts, err := h.o.Build(ctx)
	if err != nil {
		return nil, "", false, err
	}
	return h.newEngine(opts)
}

// newEngine makes an engine of opts, reporting to the metrics when they are on.
func (h *Host) newEngine(opts core.Options) (eng *core.Engine, clientID string, wantOnline bool, err error) {
	if opts.Config == nil {
		return nil, "", false, errors.New("host: Build returned no config")
	}
	opts.Observer = h.observers(opts)
	eng, err = core.New(opts)
	if err != nil {
		return nil, "", false, err
	}
	return eng, opts.Config.ClientID, !opts.StartOffline, nil
}

// Info describes this process for the control API.
func (h *Host) Info() control.Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	return control.Info{
		Kind: h.o.Kind, Scope: h.o.Scope, PID: os.Getpid(), Started: h.started,
		Version: version.Version, ClientID: h.clientID, ConfigPath: h.o.ConfigPath, Socket: h.socket,
	}
}

func (h *Host) engine() *core.Engine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.eng
}

// ---- core.Controller ----

// Status returns the current engine's latest snapshot.
func (h *Host) Status() core.Status { return h.bus.Load() }

// Subscribe delivers snapshots of whichever engine serves, across reloads.
func (h *Host) Subscribe(ctx context.Context) <-chan core.Status { return h.bus.Subscribe(ctx) }

// GoOnline connects the current engine and remembers the choice for reloads.
func (h *Host) GoOnline() {
	h.mu.Lock()
	h.want = true
	e := h.eng
	h.mu.Unlock()
	e.GoOnline()
}

// GoOffline drains and disconnects the current engine, and keeps later ones offline.
func (h *Host) GoOffline() {
	h.mu.Lock()
	h.want = false
	e := h.eng
	h.mu.Unlock()
	e.GoOffline()
}

// ReconnectNow skips the current engine's backoff wait.
func (h *Host) ReconnectNow() { h.engine().ReconnectNow() }

// Reload re-reads the config (Options.Build). If it is valid, running jobs drain, the
// old engine disconnects and a new one connects with the new config, online if the old
// one was meant to be. It returns once the new engine runs, or the error that kept the
// old one; it fails with an error when Run is not running.
func (h *Host) Reload(ctx context.Context) error {
	req := reloadReq{ctx: ctx, reply: make(chan error, 1)}
	select {
	case h.reloads <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err() // the reload goes on; the status shows it
	}
}

// ---- Run ----

// Run takes the engine lock, serves the control API (and metrics), and runs the engine
// until ctx ends; cancelling ctx drains running jobs (the engine's Grace) and returns
// nil. When another process holds the lock it returns a *enginelock.HeldError at once.
// A control endpoint that cannot be served is logged, not fatal: the engine serves
// jobs without it. Run is called at most once.
func (h *Host) Run(ctx context.Context) error {
	h.mu.Lock()
	id := h.clientID
	h.mu.Unlock()
	lockDir, err := h.lockDir()
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.socket = h.socketPath()
	h.mu.Unlock()
	if err := h.otherScope(ctx, id); err != nil {
		return err
	}
	lock, err := enginelock.Acquire(lockDir, id, h.holder(id))
	if err != nil {
		return err
	}
	defer func() { lock.Release() }()
	h.openLedger(ctx, lockDir, h.engine().Config())
	defer h.closeLedger()

	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		stopSrv()
		wg.Wait()
	}()
	h.serveControl(srvCtx, &wg)
	h.runOwner(srvCtx, &wg)
	if h.metrics != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.metrics.Serve(srvCtx, h.o.MetricsAddr, h.o.MetricsAllowRemote, h.log); err != nil {
				h.log.Error("metrics endpoint stopped", "addr", h.o.MetricsAddr, "err", err)
			}
		}()
	}

	for {
		eng := h.engine()
		runCtx, cancel := context.WithCancel(ctx)
		r := &engineRun{done: make(chan struct{})}
		fwdDone := h.forward(eng, r.done)
		go func() {
			r.err = eng.Run(runCtx)
			close(r.done)
		}()
	wait:
		for {
			select {
			case <-r.done:
				cancel()
				<-fwdDone
				return r.err
			case req := <-h.reloads:
				next, nid, nlock, err := h.prepareReload(req.ctx, lockDir, id)
				if err != nil {
					req.reply <- err
					continue
				}
				h.log.Info("reloading: draining running jobs, then reconnecting with the new config", "config", h.o.ConfigPath)
				h.drain(req.ctx, eng)
				cancel()
				<-r.done
				<-fwdDone
				if r.err != nil {
					h.log.Error("engine stopped", "err", r.err)
				}
				if nlock != nil {
					lock.Release()
					lock, id = nlock, nid
				}
				h.mu.Lock()
				h.mergedFrom, h.merged = nil, nil
				h.carry = lastLines(keepLog, h.carry, eng.Status().Log, []core.LogLine{{
					Time: time.Now(), Level: slog.LevelInfo, Message: "reloaded config " + h.o.ConfigPath,
				}})
				h.eng, h.clientID = next, nid
				want, pause := h.want, h.pause
				h.mu.Unlock()
				next.SetPause(pause.Paused, pause.Reason, pause.Until)
				h.configureOwner(next.Config())
				if want {
					next.GoOnline()
				} else {
					next.GoOffline()
				}
				h.publish(next.Status())
				h.log.Info("reloaded", "config", h.o.ConfigPath, "nodes", len(next.Status().Nodes))
				if h.o.OnReload != nil {
					h.o.OnReload(next.Config())
				}
				req.reply <- nil
				break wait
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// engineRun is one engine's Run: done closes when it has returned, then err is set.
type engineRun struct {
	done chan struct{}
	err  error
}

// otherScope refuses to start when an engine of the other scope already serves
// clientID: the lock files of the system service and of users live in different
// directories, so their control endpoints are asked instead. A user engine asks the
// system endpoint; the system service asks every user's endpoint it can see (Linux).
func (h *Host) otherScope(ctx context.Context, clientID string) error {
	paths := h.o.OtherEndpoints
	switch {
	case paths != nil:
	case h.o.Socket != "" && h.o.Socket != NoSocket:
		// an explicit endpoint: a test or an unusual setup; the lock alone decides
	case h.o.Scope == control.ScopeSystem:
		paths = userEndpoints()
	default:
		paths = []string{control.SystemSocketPath()}
	}
	for _, p := range paths {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		_, info, err := control.Find(fctx, p)
		cancel()
		if err == nil && info.ClientID == clientID {
			return &enginelock.HeldError{ClientID: clientID, Path: p, HolderKnown: true, Holder: enginelock.Holder{
				Kind: info.Kind, Scope: info.Scope, PID: info.PID, Started: info.Started,
				Socket: info.Socket, ClientID: info.ClientID, ConfigPath: info.ConfigPath,
			}}
		}
	}
	return nil
}

// prepareReload builds the next engine; when the clientId changed it also takes that
// operator's lock (kept alongside the old one until the swap).
func (h *Host) prepareReload(ctx context.Context, lockDir, curID string) (*core.Engine, string, *enginelock.Lock, error) {
	next, nid, _, err := h.build(ctx)
	if err != nil {
		return nil, "", nil, fmt.Errorf("reload: %w", err)
	}
	if nid == curID {
		return next, nid, nil, nil
	}
	nlock, err := enginelock.Acquire(lockDir, nid, h.holder(nid))
	if err != nil {
		return nil, "", nil, fmt.Errorf("reload: %w", err)
	}
	return next, nid, nlock, nil
}

// drain takes eng offline and waits until it is, or until ctx ends (then the engine's
// own shutdown grace applies when its Run is cancelled).
func (h *Host) drain(ctx context.Context, eng *core.Engine) {
	sub, stop := context.WithCancel(ctx)
	defer stop()
	ch := eng.Subscribe(sub)
	eng.GoOffline()
	for st := range ch {
		if st.State == core.StateOffline {
			return
		}
	}
}

// forward republishes eng's snapshots on the host bus until eng's Run has returned
// (runDone closed), then the last ones. The returned channel closes when forwarding
// has stopped, so snapshots of two engines never interleave.
func (h *Host) forward(eng *core.Engine, runDone <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	subCtx, stop := context.WithCancel(context.Background())
	ch := eng.Subscribe(subCtx)
	go func() {
		defer close(out)
		defer stop()
		for {
			select {
			case st := <-ch:
				h.publish(st)
			case <-runDone:
				h.publish(eng.Status()) // the final snapshot (offline)
				return
			}
		}
	}()
	return out
}

// publish shows st, its log preceded by the lines carried over from earlier engines.
func (h *Host) publish(st core.Status) {
	h.mu.Lock()
	if len(h.carry) > 0 {
		if h.merged == nil || !sameLines(st.Log, h.mergedFrom) {
			h.mergedFrom, h.merged = st.Log, lastLines(keepLog, h.carry, st.Log)
		}
		st.Log = h.merged
	}
	h.mu.Unlock()
	h.bus.Publish(st)
}

// sameLines reports whether a and b are the same snapshot (same backing array and
// length; snapshots are immutable).
func sameLines(a, b []core.LogLine) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// lastLines is the last n lines of the concatenated parts, in a new slice.
func lastLines(n int, parts ...[]core.LogLine) []core.LogLine {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	skip := max(0, total-n)
	out := make([]core.LogLine, 0, min(total, n))
	for _, p := range parts {
		if skip >= len(p) {
			skip -= len(p)
			continue
		}
		out = append(out, p[skip:]...)
		skip = 0
	}
	return out
}

func (h *Host) lockDir() (string, error) {
	if h.o.StateDir != "" {
		return h.o.StateDir, nil
	}
	if h.o.Scope == control.ScopeSystem {
		return enginelock.SystemStateDir(), nil
	}
	dir, err := enginelock.UserStateDir()
	if err != nil {
		return "", fmt.Errorf("engine lock: %w", err)
	}
	return dir, nil
}

func (h *Host) holder(clientID string) enginelock.Holder {
	h.mu.Lock()
	sock := h.socket
	h.mu.Unlock()
	return enginelock.Holder{
		Kind: h.o.Kind, Scope: h.o.Scope, PID: os.Getpid(), Started: h.started,
		Socket: sock, ClientID: clientID, ConfigPath: h.o.ConfigPath,
	}
}

// serveControl listens on the control endpoint and serves it until ctx ends.
func (h *Host) serveControl(ctx context.Context, wg *sync.WaitGroup) {
	h.mu.Lock()
	path := h.socket
	h.mu.Unlock()
	if path == "" {
		return
	}
	ln, err := control.Listen(path, control.ListenOptions{Group: h.socketGroup(), System: h.o.Scope == control.ScopeSystem})
	if err != nil {
		h.mu.Lock()
		h.socket = ""
		h.mu.Unlock()
		h.log.Warn("control API unavailable; `pin-clientd status` and the desktop app cannot reach this engine", "socket", path, "err", err)
		return
	}
	pol := control.DefaultPolicy()
	pol.GID = h.socketGroup()
	srv := control.NewServer(control.ServerOptions{Engine: h, Info: h.Info, Logger: h.log, Policy: pol})
	h.log.Debug("control API listening", "socket", path)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ln); err != nil {
			h.log.Warn("control API stopped", "socket", path, "err", err)
		}
	}()
}

// socketPath is the control endpoint to serve, "" for none.
func (h *Host) socketPath() string {
	switch {
	case h.o.Socket == NoSocket:
		return ""
	case h.o.Socket != "":
		return h.o.Socket
	case h.o.Scope == control.ScopeSystem:
		return control.SystemSocketPath()
	}
	return control.UserSocketPath()
}

func (h *Host) socketGroup() int {
	if h.o.Scope != control.ScopeSystem || h.o.SocketGroup <= 0 {
		return -1
	}
	return h.o.SocketGroup
}
