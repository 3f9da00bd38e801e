package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// fakeEngine is a scripted core.Controller: GoOnline goes Connecting → Online,
// GoOffline drains running jobs (Draining) then goes Offline, and the test starts and
// finishes jobs. Run blocks until its context ends, then waits for running jobs (the
// drain) and goes Offline.
type fakeEngine struct {
	cfg    *config.Config
	secret protocol.Secret

	mu         sync.Mutex
	st         core.Status
	subs       []chan core.Status
	running    int
	drained    chan struct{} // closed when running reaches 0 while draining or stopping
	reconnects int
	ran        chan struct{} // closed when Run returned
	runErr     error         // Run returns it at once when set (the lock is held)
	event      func(string)  // records "offline", "stopped"; nil → nothing
}

func (e *fakeEngine) record(what string) {
	if e.event != nil {
		e.event(what)
	}
}

func newFakeEngine(cfg *config.Config, secret protocol.Secret, source string) *fakeEngine {
	e := &fakeEngine{cfg: cfg, secret: secret, ran: make(chan struct{})}
	e.st = core.Status{State: core.StateOffline, Transport: "sse", Gateway: cfg.ServerURL, SecretSource: source}
	for _, n := range cfg.Nodes {
		e.st.Nodes = append(e.st.Nodes, core.NodeStatus{
			Alias: n.Alias, BackendURL: n.InferenceURI, APIMode: n.APIMode, Region: n.Region,
			Capacity: n.Capacity, Price: n.Price(), BackendOK: true, Models: []string{"llama3:8b"},
		})
	}
	return e
}

// publishLocked sends a copy of the status to every subscriber, replacing an unread one.
func (e *fakeEngine) publishLocked() {
	st := e.st
	st.Nodes = slices.Clone(e.st.Nodes)
	st.Log = slices.Clone(e.st.Log)
	for _, ch := range e.subs {
		select {
		case <-ch:
		default:
		}
		ch <- st
	}
}

func (e *fakeEngine) Status() core.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st
	st.Nodes = slices.Clone(e.st.Nodes)
	return st
}

func (e *fakeEngine) Subscribe(ctx context.Context) <-chan core.Status {
	ch := make(chan core.Status, 1)
	e.mu.Lock()
	e.subs = append(e.subs, ch)
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		defer e.mu.Unlock()
		e.subs = slices.DeleteFunc(e.subs, func(c chan core.Status) bool { return c == ch })
		close(ch)
	}()
	return ch
}

func (e *fakeEngine) set(f func(st *core.Status)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(&e.st)
	e.publishLocked()
}

func (e *fakeEngine) GoOnline() {
	e.set(func(st *core.Status) { st.State = core.StateConnecting })
	e.set(func(st *core.Status) {
		st.State = core.StateOnline
		st.Log = append(st.Log, core.LogLine{Time: time.Unix(0, 0), Level: slog.LevelInfo, Message: "node registered node=" + st.Nodes[0].Alias})
	})
}

func (e *fakeEngine) GoOffline() {
	e.record("offline")
	e.set(func(st *core.Status) {
		if st.InFlight > 0 {
			st.State = core.StateDraining
		} else {
			st.State = core.StateOffline
		}
	})
}

func (e *fakeEngine) ReconnectNow() {
	e.mu.Lock()
	e.reconnects++
	e.mu.Unlock()
}

// Pause records the call and shows the pause as the engine would.
func (e *fakeEngine) Pause(until time.Time) {
	e.record("pause")
	e.set(func(st *core.Status) {
		st.Paused, st.PauseReason, st.PausedUntil = true, core.ReasonPausedByYou, until
		st.State = core.StateOffline
	})
}

// Resume records the call and ends the pause.
func (e *fakeEngine) Resume() {
	e.record("resume")
	e.set(func(st *core.Status) { st.Paused, st.PauseReason, st.PausedUntil = false, "", time.Time{} })
}

func (e *fakeEngine) Run(ctx context.Context) error {
	defer close(e.ran)
	if e.runErr != nil {
		return e.runErr
	}
	defer e.record("stopped")
	<-ctx.Done()
	e.mu.Lock()
	if e.running > 0 {
		e.st.State = core.StateDraining
		e.drained = make(chan struct{})
		d := e.drained
		e.publishLocked()
		e.mu.Unlock()
		<-d
		e.mu.Lock()
	}
	e.st.State = core.StateOffline
	e.publishLocked()
	e.mu.Unlock()
	return nil
}

// startJob marks a job running on node i.
func (e *fakeEngine) startJob(i int) {
	e.set(func(st *core.Status) {
		e.running++
		st.InFlight++
		st.Nodes[i].InFlight++
	})
}

// finishJob completes a job on node i that billed tokens.
func (e *fakeEngine) finishJob(i int, prompt, completion uint64) {
	e.set(func(st *core.Status) {
		e.running--
		st.InFlight--
		st.Served++
		st.Tokens += prompt + completion
		n := &st.Nodes[i]
		n.InFlight--
		n.Served++
		n.PromptTokens += prompt
		n.CompletionTokens += completion
		if st.State == core.StateDraining && st.InFlight == 0 && e.drained == nil {
			st.State = core.StateOffline
		}
		if e.running == 0 && e.drained != nil {
			close(e.drained)
			e.drained = nil
		}
	})
}

// fakeSecrets is an in-memory SecretStore.
type fakeSecrets struct {
	mu       sync.Mutex
	m        map[string]string
	storeErr error
}

func (f *fakeSecrets) Lookup(clientID, configSecret, _ string) (protocol.Secret, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.m[clientID]; ok {
		return protocol.NewSecret(v), "OS keyring (pin-client/" + clientID + ")", nil
	}
	if configSecret != "" {
		return protocol.NewSecret(configSecret), "config", nil
	}
	return protocol.Secret{}, "", errors.New("no API secret found for " + clientID)
}

func (f *fakeSecrets) Store(clientID string, s protocol.Secret) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storeErr != nil {
		return "", f.storeErr
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	f.m[clientID] = s.Reveal()
	return "OS keyring (pin-client/" + clientID + ")", nil
}

func (f *fakeSecrets) get(clientID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[clientID]
}

// fakeTray records what the app puts in the system tray.
type fakeTray struct {
	menus    []*fyne.Menu
	icons    []fyne.Resource
	tooltips []string
}

func (f *fakeTray) SetSystemTrayMenu(m *fyne.Menu)    { f.menus = append(f.menus, m) }
func (f *fakeTray) SetSystemTrayIcon(r fyne.Resource) { f.icons = append(f.icons, r) }
func (f *fakeTray) SetTooltip(s string)               { f.tooltips = append(f.tooltips, s) }

// fakeAutostart is an in-memory Autostart.
type fakeAutostart struct{ on bool }

func (f *fakeAutostart) Supported() bool          { return true }
func (f *fakeAutostart) Enabled() bool            { return f.on }
func (f *fakeAutostart) SetEnabled(on bool) error { f.on = on; return nil }

// fakeInstaller records installs and removals. Install and Uninstall call the hooks
// (set before the app starts), which stand for the service starting and stopping.
type fakeInstaller struct {
	calls, removals atomic.Int32
	installed       atomic.Bool
	installErr      error
	onInstall       func() // the service starts
	onUninstall     func() // the service stops
}

func (f *fakeInstaller) Install(context.Context, string, *config.Config) (string, error) {
	f.calls.Add(1)
	if f.installErr != nil {
		return "", f.installErr
	}
	f.installed.Store(true)
	if f.onInstall != nil {
		f.onInstall()
	}
	return "user service pin-clientd installed and started", nil
}

func (f *fakeInstaller) Uninstall(context.Context) (string, error) {
	f.removals.Add(1)
	f.installed.Store(false)
	if f.onUninstall != nil {
		f.onUninstall()
	}
	return "Uninstalled the systemd --user service.", nil
}

func (f *fakeInstaller) Installed() bool { return f.installed.Load() }

// fakeRemote is an engine in another process: a scripted engine behind a control API.
// Its subscriptions get the current snapshot at once and are closed when it goes away.
type fakeRemote struct {
	*fakeEngine
	info     EngineInfo
	gone     context.Context
	goAway   context.CancelFunc // the process ends: every subscription closes
	reloads  atomic.Int32
	onReload func() error
	// reconnected gets a value per ReconnectNow call (the app makes it off the UI thread).
	reconnected chan struct{}
}

func newFakeRemote(cfg *config.Config, kind string, pid int, started time.Time) *fakeRemote {
	r := &fakeRemote{fakeEngine: newFakeEngine(cfg, protocol.Secret{}, "OS keyring"), reconnected: make(chan struct{}, 8)}
	r.gone, r.goAway = context.WithCancel(context.Background())
	r.info = EngineInfo{Kind: kind, Scope: "user", PID: pid, Started: started, ClientID: cfg.ClientID,
		ConfigPath: "", Socket: "/run/user/1000/pin-client/engine.sock", Version: "test"}
	return r
}

func (r *fakeRemote) Subscribe(ctx context.Context) <-chan core.Status {
	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(r.gone, cancel)
	ch := r.fakeEngine.Subscribe(ctx)
	r.set(func(*core.Status) {}) // the current snapshot first
	return ch
}

// ReconnectNow records the call and tells the test (reconnected).
func (r *fakeRemote) ReconnectNow() {
	r.fakeEngine.ReconnectNow()
	r.reconnected <- struct{}{}
}

func (r *fakeRemote) Reload(context.Context) error {
	r.reloads.Add(1)
	if r.onReload != nil {
		return r.onReload()
	}
	return nil
}

func (r *fakeRemote) alive() bool { return r.gone.Err() == nil }

// quitApp records Quit instead of ending the test app.
type quitApp struct {
	fyne.App
	quits int
}

func (q *quitApp) Quit() { q.quits++ }

// manualTimer is a timer the test fires by hand.
type manualTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (m *manualTimer) Stop() bool { m.stopped = true; return true }

// harness runs a UI on the Fyne test driver. Work the app hands to the UI thread (u.do)
// is queued and run on the test goroutine by pump/until, so widgets are only ever
// touched from one goroutine, as on the real main thread.
type harness struct {
	t       *testing.T
	fa      *quitApp
	u       *UI
	tray    *fakeTray
	secrets *fakeSecrets
	auto    *fakeAutostart
	inst    *fakeInstaller
	now     time.Time
	timers  []*manualTimer

	mu       sync.Mutex
	queue    []func()
	wake     chan struct{}
	engines  []*fakeEngine // guarded by mu
	remote   *fakeRemote   // what Attach finds while it is alive; guarded by mu
	attaches int           // Attach calls; guarded by mu
	events   []string      // what happened, in order; guarded by mu
	runErr   error         // the next engines' Run fails with it; guarded by mu
}

// event records what happened, for tests of the order of a hand-off.
func (h *harness) event(what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, what)
}

func (h *harness) eventList() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// setRemote makes r the engine Attach finds (nil: none runs).
func (h *harness) setRemote(r *fakeRemote) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remote = r
}

func (h *harness) setRunErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runErr = err
}

type harnessOpt func(*harness, *Options)

func newHarness(t *testing.T, dir string, opts ...harnessOpt) *harness {
	t.Helper()
	t.Setenv(EnvSecret, "")
	t.Setenv("TZ", "Europe/Berlin") // new nodes' region: eu-central, picked from the time zone
	h := &harness{
		t: t, fa: &quitApp{App: test.NewTempApp(t)}, tray: &fakeTray{}, secrets: &fakeSecrets{},
		auto: &fakeAutostart{}, inst: &fakeInstaller{}, wake: make(chan struct{}, 1),
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	o := Options{
		ConfigDir: dir,
		NewEngine: func(spec EngineSpec) (Engine, error) {
			e := newFakeEngine(spec.Config, spec.Secret, spec.SecretSource)
			e.event = h.event
			h.mu.Lock()
			e.runErr = h.runErr
			h.engines = append(h.engines, e)
			h.mu.Unlock()
			return e, nil
		},
		Attach: func(_ context.Context, clientID string) (Remote, EngineInfo, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.attaches++
			if r := h.remote; r != nil && r.alive() {
				h.events = append(h.events, "attach")
				return r, r.info, nil
			}
			return nil, EngineInfo{}, errors.New("no engine running for " + clientID)
		},
		Secrets: h.secrets,
		Detect: func(context.Context) []Found {
			return []Found{{Kind: "Ollama", URL: "http://127.0.0.1:11434", APIMode: "ollama", Models: []string{"llama3:8b", "qwen2:7b"}}}
		},
		Probe: func(_ context.Context, n config.Node) Probe {
			if n.InferenceURI == "http://127.0.0.1:9" {
				return Probe{Blocking: true, Problems: []string{"nothing listens at http://127.0.0.1:9; fix: start the LLM server"}}
			}
			return Probe{Models: []string{"llama3:8b", "qwen2:7b", "mistral:7b"}}
		},
		Installer: h.inst,
		Autostart: h.auto,
		Now:       func() time.Time { return h.now },
	}
	for _, f := range opts {
		f(h, &o)
	}
	h.u = newUI(h.fa, o, h.tray, h.do)
	h.u.after = func(d time.Duration, f func()) stopper {
		m := &manualTimer{d: d, f: f}
		h.timers = append(h.timers, m)
		return m
	}
	return h
}

func (h *harness) do(f func()) {
	h.mu.Lock()
	h.queue = append(h.queue, f)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// pump runs what is queued for the UI thread, including what that queues.
func (h *harness) pump() {
	for {
		h.mu.Lock()
		q := h.queue
		h.queue = nil
		h.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f()
		}
	}
}

// until pumps the UI queue until cond holds; it fails the test after 10 s without it.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		h.pump()
		if cond() {
			return
		}
		select {
		case <-h.wake:
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (h *harness) engine(i int) *fakeEngine {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i >= len(h.engines) {
		return nil
	}
	return h.engines[i]
}

func (h *harness) engineCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.engines)
}

// menu is the tray menu shown last.
func (h *harness) menu() *fyne.Menu {
	h.t.Helper()
	if len(h.tray.menus) == 0 {
		h.t.Fatal("no tray menu set")
	}
	return h.tray.menus[len(h.tray.menus)-1]
}

func (h *harness) menuItem(label string) *fyne.MenuItem {
	h.t.Helper()
	for _, it := range h.menu().Items {
		if it.Label == label || strings.TrimPrefix(strings.TrimPrefix(it.Label, boxOn), boxOff) == label {
			return it
		}
	}
	var labels []string
	for _, it := range h.menu().Items {
		labels = append(labels, it.Label)
	}
	h.t.Fatalf("tray menu has no %q: %q", label, labels)
	return nil
}

// tapMenu chooses an enabled tray item, as the tray would on the main thread.
func (h *harness) tapMenu(label string) {
	h.t.Helper()
	it := h.menuItem(label)
	if it.Disabled {
		h.t.Fatalf("tray item %q is disabled", label)
	}
	it.Action()
	h.pump()
}

func (h *harness) icon() fyne.Resource {
	if len(h.tray.icons) == 0 {
		return nil
	}
	return h.tray.icons[len(h.tray.icons)-1]
}

func secretOf(s string) protocol.Secret { return protocol.NewSecret(s) }
