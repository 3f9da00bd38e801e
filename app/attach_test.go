package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/app/present"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/enginelock"
)

// savedConfig is the config writeConfig saves, as the app loaded it.
func savedConfig(t *testing.T, h *harness) *config.Config {
	t.Helper()
	if h.u.cfg == nil {
		t.Fatal("no saved config")
	}
	return h.u.cfg
}

// newService is a running background service for the harness's operator, started
// 2 h 5 min before the harness's clock.
func newService(t *testing.T, h *harness) *fakeRemote {
	t.Helper()
	r := newFakeRemote(savedConfig(t, h), present.KindService, 1234, h.now.Add(-(2*time.Hour + 5*time.Minute)))
	t.Cleanup(r.goAway)
	return r
}

func (h *harness) attachCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attaches
}

func (r *fakeRemote) subscribers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

func TestAttachesToRunningService(t *testing.T) {
	h := newConfigured(t, false)
	svc := newService(t, h)
	svc.GoOnline()
	h.setRemote(svc)
	h.u.start(false)
	h.until("attached", func() bool { return h.u.remote != nil && h.u.last.State == core.StateOnline })
	if h.engineCount() != 0 || h.u.eng != nil {
		t.Fatal("the app started its own engine although the service runs")
	}
	d := h.u.dash
	if got := d.engine.Text; got != "Engine: background service (PID 1234, up 2 h 5 min)" {
		t.Errorf("engine line = %q", got)
	}
	if d.title.Text != "Online" || h.icon() != iconOnline || d.toggle.Text != "Go offline" {
		t.Errorf("title %q icon %v toggle %q", d.title.Text, h.icon(), d.toggle.Text)
	}
	h.menuItem("PIN Client: Online (background service)")
	if h.menuItem("Remove background service…").Disabled {
		t.Error("Remove background service is disabled while attached to it")
	}

	// The uptime is re-rendered when it changes, without asking the engine.
	tm := h.timers[len(h.timers)-1]
	h.now = h.now.Add(tm.d)
	tm.f()
	h.pump()
	if got := d.engine.Text; got != "Engine: background service (PID 1234, up 2 h 6 min)" {
		t.Errorf("a minute later: %q", got)
	}

	// The tray toggle and the buttons drive the service.
	h.tapMenu("Go offline")
	h.until("service offline", func() bool { return h.u.last.State == core.StateOffline })
	if svc.Status().State != core.StateOffline {
		t.Error("the service did not go offline")
	}
	h.tapMenu("Go online")
	h.until("service online", func() bool { return h.u.last.State == core.StateOnline && svc.Status().State == core.StateOnline })
	svc.set(func(st *core.Status) { st.State = core.StateReconnecting; st.RetryAt = h.now.Add(5 * time.Second) })
	h.until("reconnecting", func() bool { return h.u.last.State == core.StateReconnecting })
	test.Tap(d.reconnect)
	select {
	case <-svc.reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("Reconnect now did not reach the service")
	}
	if h.engineCount() != 0 {
		t.Error("an engine was started")
	}
	if h.fa.Preferences().Bool(prefWantOnline) {
		t.Error("driving the service changed the app's own engine's remembered choice")
	}
}

func TestStartsOwnEngineWhenNoneRuns(t *testing.T) {
	h := newConfigured(t, true)
	h.u.start(false)
	h.until("own engine online", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })
	if h.attachCount() == 0 {
		t.Error("the app did not look for a running engine first")
	}
	if got := h.u.dash.engine.Text; got != "Engine: this app" {
		t.Errorf("engine line = %q", got)
	}
	h.menuItem("PIN Client: Online")
	h.menuItem("Install background service…")
}

func TestIgnoresEngineOfAnotherOperator(t *testing.T) {
	h := newConfigured(t, false)
	other := newService(t, h)
	other.info.ClientID = "op_someone_else"
	h.setRemote(other)
	h.u.start(false)
	h.until("own engine", func() bool { return h.u.eng != nil })
	if h.u.remote != nil || h.engineCount() != 1 {
		t.Errorf("attached to another operator's engine: remote %v engines %d", h.u.remote, h.engineCount())
	}
}

func TestRemoteGoneStartsOwnEngine(t *testing.T) {
	h := newConfigured(t, true)
	d := newFakeRemote(savedConfig(t, h), present.KindDaemon, 4321, h.now.Add(-3*time.Minute))
	d.GoOnline()
	h.setRemote(d)
	h.u.start(false)
	h.until("attached", func() bool { return h.u.remote != nil })
	if got := h.u.dash.engine.Text; got != "Engine: pin-clientd in a terminal (PID 4321, up 3 min)" {
		t.Errorf("engine line = %q", got)
	}
	h.menuItem("PIN Client: Online (pin-clientd in a terminal)")
	if !h.menuItem("Install background service…").Disabled {
		t.Error("installing the service is offered while pin-clientd runs in a terminal")
	}

	h.now = h.now.Add(time.Minute)
	d.goAway() // Ctrl-C in the terminal
	h.until("own engine online", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })
	if h.u.remote != nil || h.engineCount() != 1 {
		t.Errorf("remote %v, %d engines", h.u.remote, h.engineCount())
	}
	if h.attachCount() < 2 {
		t.Errorf("looked for a running engine %d times, want a second look when it went away", h.attachCount())
	}
	if got := h.u.dash.engine.Text; got != "Engine: this app" {
		t.Errorf("engine line = %q", got)
	}
}

func TestSettingsSaveOnAttachedEngine(t *testing.T) {
	h := newConfigured(t, false)
	svc := newService(t, h)
	// The service reads its own config file, which holds its secret.
	dir := t.TempDir()
	svc.info.ConfigPath = filepath.Join(dir, "service.json")
	cfg := *savedConfig(t, h)
	cfg.Nodes = slices.Clone(cfg.Nodes)
	cfg.Nodes[0].Alias = "service-gpu"
	cfg.APISecret = testSecret
	if err := cfg.Save(svc.info.ConfigPath, true); err != nil {
		t.Fatal(err)
	}
	h.setRemote(svc)
	h.u.start(false)
	h.until("attached", func() bool { return h.u.remote != nil })

	test.Tap(h.u.dash.settings)
	f := h.u.setup
	if f == nil || f.nodes[0].alias.Text != "service-gpu" || f.save.Text != "Save and reload" {
		t.Fatalf("settings not filled from the service's config: %+v", f)
	}
	f.nodes[0].alias.SetText("renamed")
	test.Tap(f.save)
	h.until("reload", func() bool { return svc.reloads.Load() == 1 })
	got, _, err := config.Load(svc.info.ConfigPath, nil)
	if err != nil || got.Nodes[0].Alias != "renamed" || got.APISecret != testSecret {
		t.Errorf("service config after Save: %+v, %v (secret kept: %v)", got, err, got != nil && got.APISecret == testSecret)
	}
	if own, _, _ := config.Load(h.u.configPath(), nil); own.Nodes[0].Alias != "gpu-1" {
		t.Errorf("the app's own config changed: %q", own.Nodes[0].Alias)
	}
	if h.engineCount() != 0 {
		t.Error("saving settings started an engine")
	}

	// A reload the engine refuses is shown.
	svc.onReload = func() error { return errors.New("nodes[0].region: \"mars\" is not a region") }
	test.Tap(h.u.dash.settings)
	test.Tap(h.u.setup.save)
	h.until("reload error", func() bool { return strings.Contains(h.u.message, "did not reload it") })
	if !strings.Contains(h.u.message, `"mars" is not a region`) || !strings.Contains(h.u.message, svc.info.ConfigPath) {
		t.Errorf("message = %q", h.u.message)
	}
}

func TestSaveConfigNotWritable(t *testing.T) {
	const path = "/etc/pin-clientd/config.json"
	denied := &fs.PathError{Op: "open", Path: "/etc/pin-clientd/.config.json.tmp1", Err: syscall.EACCES}
	err := saveError(fmt.Errorf("write config: %w", denied), path, true)
	want := "cannot write /etc/pin-clientd/config.json (the config the running engine reads): permission denied; " +
		"edit it as root (e.g. `sudo nano /etc/pin-clientd/config.json`), then run `sudo pin-clientd reload`"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
	if err := saveError(fmt.Errorf("write config: %w", denied), "/home/u/.config/pin-client/config.json", false); err == nil ||
		!strings.HasPrefix(err.Error(), "save /home/u/.config/pin-client/config.json: write config: ") {
		t.Errorf("own config: %v", err)
	}
	if saveError(nil, path, true) != nil {
		t.Error("no error became one")
	}
	if os.Geteuid() == 0 {
		return // root writes into a read-only folder; the mapping above is what matters
	}
	// The real thing: a read-only folder.
	h := newConfigured(t, false)
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	err = h.u.saveConfig(savedConfig(t, h), filepath.Join(dir, "config.json"), false)
	if err == nil || !strings.Contains(err.Error(), "permission denied; edit it as root") {
		t.Errorf("read-only folder: %v", err)
	}
}

func TestInstallHandsOverToService(t *testing.T) {
	h := newConfigured(t, true)
	var svc *fakeRemote
	h.inst.onInstall = func() {
		h.event("install")
		svc = newFakeRemote(savedConfig(t, h), present.KindService, 999, h.now)
		svc.GoOnline() // the service starts online
		t.Cleanup(svc.goAway)
		h.setRemote(svc)
	}
	h.u.start(true)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	own := h.engine(0)
	own.startJob(0)
	h.until("job", func() bool { return h.u.last.InFlight == 1 })

	h.u.doInstall() // what confirming does
	h.until("draining", func() bool { return h.u.last.State == core.StateDraining })
	h.menuItem("PIN Client: handing over to the background service: finishing running jobs…")
	if h.inst.calls.Load() != 0 {
		t.Fatal("installed while the app's engine still runs a job")
	}
	own.finishJob(0, 1, 1)
	h.until("attached", func() bool { return h.u.remote != nil })
	if got, want := h.eventList(), []string{"offline", "stopped", "install", "attach"}; !slices.Equal(got, want) {
		t.Errorf("hand-off order %q, want %q", got, want)
	}
	if !strings.Contains(h.u.message, "user service pin-clientd installed and started") {
		t.Errorf("message = %q", h.u.message)
	}
	h.until("service state shown", func() bool { return h.u.last.State == core.StateOnline })
	if h.engineCount() != 1 || h.u.eng != nil || h.fa.Preferences().Bool(prefWantOnline) {
		t.Errorf("after the hand-off: %d engines, own %v, want-online %v", h.engineCount(), h.u.eng, h.fa.Preferences().Bool(prefWantOnline))
	}
	if !strings.HasPrefix(h.u.dash.engine.Text, "Engine: background service (PID 999") {
		t.Errorf("engine line = %q", h.u.dash.engine.Text)
	}
	h.menuItem("Remove background service…")
}

func TestInstallFailureRestartsOwnEngine(t *testing.T) {
	h := newConfigured(t, true)
	h.inst.installErr = errors.New("pin-clientd service install --user: systemctl --user: no session bus")
	h.u.start(true)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	h.u.doInstall()
	h.until("second engine online", func() bool { return h.engineCount() == 2 && h.u.last.State == core.StateOnline })
	if !strings.Contains(h.u.message, "no session bus") {
		t.Errorf("message = %q", h.u.message)
	}
}

func TestRemoveServiceTakesOver(t *testing.T) {
	h := newConfigured(t, false)
	svc := newService(t, h)
	svc.GoOnline()
	h.setRemote(svc)
	h.inst.installed.Store(true)
	h.inst.onUninstall = func() { svc.goAway() } // uninstall stops the service
	h.u.start(true)
	h.until("attached", func() bool { return h.u.remote != nil && h.u.last.State == core.StateOnline })

	h.tapMenu("Remove background service…") // opens a confirmation
	if h.inst.removals.Load() != 0 {
		t.Fatal("removed without confirmation")
	}
	h.now = h.now.Add(time.Minute)
	h.u.doRemove()
	h.until("own engine online", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })
	if h.engineCount() != 1 || h.u.remote != nil {
		t.Errorf("%d engines, remote %v", h.engineCount(), h.u.remote)
	}
	if !h.fa.Preferences().Bool(prefWantOnline) {
		t.Error("the service was online; the app's engine should stay wanted online")
	}
	if !strings.Contains(h.u.message, "takes your nodes online") {
		t.Errorf("message = %q", h.u.message)
	}
	h.menuItem("Install background service…")
	if got := h.u.dash.engine.Text; got != "Engine: this app" {
		t.Errorf("engine line = %q", got)
	}
}

func TestQuitLeavesAttachedEngineRunning(t *testing.T) {
	h := newConfigured(t, false)
	svc := newService(t, h)
	svc.GoOnline()
	svc.startJob(0)
	h.setRemote(svc)
	h.u.start(true)
	h.until("attached", func() bool { return h.u.remote != nil && h.u.last.InFlight == 1 })
	h.tapMenu("Quit")
	h.until("quit", func() bool { return h.fa.quits == 1 })
	if st := svc.Status(); st.State != core.StateOnline || st.InFlight != 1 || !svc.alive() {
		t.Errorf("the service was touched by Quit: %v, %d in flight", st.State, st.InFlight)
	}
	h.until("unsubscribed", func() bool { return svc.subscribers() == 0 })
	if h.engineCount() != 0 {
		t.Error("an engine was started")
	}
}

func heldBy(kind string, pid int) error {
	return &enginelock.HeldError{ClientID: "op_saved", Path: "/state/engine.lock", HolderKnown: true,
		Holder: enginelock.Holder{Kind: kind, Scope: "user", PID: pid, ClientID: "op_saved"}}
}

func TestLockHeldAttachesInstead(t *testing.T) {
	var svc *fakeRemote
	h := newConfigured(t, true, func(h *harness, o *Options) {
		factory := o.NewEngine
		o.NewEngine = func(spec EngineSpec) (Engine, error) {
			// pin-clientd was started in a terminal while the app looked for one.
			svc = newFakeRemote(spec.Config, present.KindDaemon, 42, h.now)
			svc.GoOnline()
			h.setRemote(svc)
			h.setRunErr(heldBy(enginelock.KindDaemon, 42))
			return factory(spec)
		}
	})
	h.u.start(true)
	h.until("attached", func() bool { return h.u.remote != nil && h.u.last.State == core.StateOnline })
	t.Cleanup(svc.goAway)
	if !strings.Contains(h.u.message, "another engine already serves operator op_saved on this machine: pin-clientd in a terminal (PID 42") {
		t.Errorf("message = %q", h.u.message)
	}
	if h.u.eng != nil {
		t.Error("the app's refused engine is still shown")
	}
}

func TestLockHeldByExitingEngineRetries(t *testing.T) {
	h := newConfigured(t, true)
	h.setRunErr(heldBy(enginelock.KindService, 7))
	h.u.start(true)
	h.until("refused", func() bool { return h.engineCount() == 1 && h.u.eng == nil && !h.u.starting && len(h.timers) > 0 })
	if h.u.message != "" {
		t.Errorf("a dialog before the retry: %q", h.u.message)
	}
	if !strings.Contains(h.u.dash.reason.Text, "another engine already serves operator op_saved") {
		t.Errorf("reason = %q", h.u.dash.reason.Text)
	}
	// No engine runs here: the dashboard says so and still shows the configured node.
	if got := h.u.dash.engine.Text; got != "Engine: none running" || len(h.u.dash.cards) != 1 || h.u.dash.cards[0].card.Title != "gpu-1" {
		t.Errorf("engine line %q, %d cards", got, len(h.u.dash.cards))
	}
	// The holder was exiting: the retry a moment later starts the app's engine.
	h.setRunErr(nil)
	tm := h.timers[len(h.timers)-1]
	if tm.d != heldRetry {
		t.Fatalf("retry after %v", tm.d)
	}
	tm.f()
	h.until("own engine online", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })

	// Held again on the retry: the operator is told, once, and the app stays offline.
	h2 := newConfigured(t, true)
	h2.setRunErr(heldBy(enginelock.KindService, 7))
	h2.u.start(true)
	h2.until("refused", func() bool { return h2.engineCount() == 1 && !h2.u.starting && len(h2.timers) > 0 })
	h2.timers[len(h2.timers)-1].f()
	h2.until("told", func() bool { return h2.u.message != "" })
	if !strings.Contains(h2.u.message, "the background service (PID 7") {
		t.Errorf("message = %q", h2.u.message)
	}
	if h2.engineCount() != 2 || h2.u.eng != nil {
		t.Errorf("%d engines, own %v", h2.engineCount(), h2.u.eng)
	}
}

// TestDashboardLayoutAfterAttach: the totals line sits under the node cards once an
// attached engine's nodes are shown (it was drawn over the first card's subtitle).
func TestDashboardLayoutAfterAttach(t *testing.T) {
	h := newConfigured(t, false)
	svc := newService(t, h)
	svc.GoOnline()
	h.setRemote(svc)
	h.u.win.Show()
	h.u.start(false)
	h.until("attached", func() bool { return h.u.remote != nil && len(h.u.dash.cards) == 1 })
	d := h.u.dash
	card := d.cards[0].card
	bottom := d.nodesBox.Position().Y + card.Position().Y + card.MinSize().Height
	if got := d.totals.Position().Y; got < bottom {
		t.Errorf("totals at y=%v, over the card that ends at y=%v", got, bottom)
	}
}

// TestRemoteFlappingIsNotHammered: an engine that goes away right after the app attached
// (its watch stream fails at once) is looked for again only after a pause.
func TestRemoteFlappingIsNotHammered(t *testing.T) {
	h := newConfigured(t, false)
	svc := newService(t, h)
	h.setRemote(svc)
	h.u.start(true)
	h.until("attached", func() bool { return h.u.remote != nil })
	svc.goAway()
	h.until("gone", func() bool { return h.u.remote == nil })
	if h.u.eng != nil || h.u.starting || h.attachCount() != 1 {
		t.Fatalf("looked again at once: own %v starting %v attaches %d", h.u.eng, h.u.starting, h.attachCount())
	}
	tm := h.timers[len(h.timers)-1]
	if tm.d != flapDelay {
		t.Fatalf("next look after %v, want %v", tm.d, flapDelay)
	}
	tm.f()
	h.until("own engine", func() bool { return h.u.eng != nil })
	if h.attachCount() != 2 {
		t.Errorf("%d looks", h.attachCount())
	}
}

// TestServiceRestartIsAwaited: when the attached user service stops while installed (it
// crashed; its manager restarts it), the app waits for it instead of taking the lock;
// when it does not come back, the app runs its own engine.
func TestServiceRestartIsAwaited(t *testing.T) {
	h := newConfigured(t, false)
	h.u.restartWait = 2 * time.Second
	svc := newService(t, h)
	h.setRemote(svc)
	h.inst.installed.Store(true)
	h.u.start(true)
	h.until("attached", func() bool { return h.u.remote != nil })
	h.now = h.now.Add(time.Minute)
	svc.goAway()
	h.until("waiting", func() bool { return h.u.remote == nil && h.u.switching != "" })
	h.menuItem("PIN Client: the background service stopped; waiting for it to restart…")
	restarted := newService(t, h)
	restarted.info.PID = 5678
	h.setRemote(restarted)
	h.until("attached to the restarted service", func() bool { return h.u.remote != nil })
	if h.u.remote.info.PID != 5678 || h.engineCount() != 0 || h.u.switching != "" {
		t.Errorf("pid %d, %d engines, switching %q", h.u.remote.info.PID, h.engineCount(), h.u.switching)
	}

	// It stops for good: after the wait the app runs its own engine.
	h.u.restartWait = 300 * time.Millisecond
	h.now = h.now.Add(time.Minute)
	restarted.goAway()
	h.until("own engine", func() bool { return h.u.eng != nil })
	if h.u.switching != "" || h.engineCount() != 1 {
		t.Errorf("switching %q, %d engines", h.u.switching, h.engineCount())
	}

	// A service that was uninstalled meanwhile is not waited for.
	h2 := newConfigured(t, false)
	h2.u.restartWait = time.Hour
	svc2 := newService(t, h2)
	h2.setRemote(svc2)
	h2.inst.installed.Store(true)
	h2.u.start(true)
	h2.until("attached", func() bool { return h2.u.remote != nil })
	h2.now = h2.now.Add(time.Minute)
	h2.inst.installed.Store(false)
	svc2.goAway()
	h2.until("own engine at once", func() bool { return h2.u.eng != nil })
}

// TestStartWaitsForInstalledService: at login the app may start before the installed
// user service; it waits for the service instead of taking the lock, and runs its own
// engine only when the service does not come.
func TestStartWaitsForInstalledService(t *testing.T) {
	h := newConfigured(t, true)
	h.u.restartWait = 5 * time.Second
	h.inst.installed.Store(true)
	h.u.start(true)
	h.until("waiting", func() bool { return h.u.switching != "" })
	h.menuItem("PIN Client: waiting for the background service to start…")
	svc := newService(t, h)
	h.setRemote(svc)
	h.until("attached", func() bool { return h.u.remote != nil && h.u.switching == "" })
	if h.engineCount() != 0 {
		t.Error("the app started its own engine while the service was starting")
	}

	h2 := newConfigured(t, true)
	h2.u.restartWait = 300 * time.Millisecond
	h2.inst.installed.Store(true)
	h2.u.start(true)
	h2.until("own engine online", func() bool { return h2.u.eng != nil && h2.u.last.State == core.StateOnline })
	if h2.u.switching != "" {
		t.Errorf("switching %q", h2.u.switching)
	}
}
