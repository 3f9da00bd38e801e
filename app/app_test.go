package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
)

const testSecret = "pin_sk_test_0123456789abcdef"

// fillSetup completes the first-run form the way an operator would.
func fillSetup(t *testing.T, h *harness) {
	t.Helper()
	f := h.u.setup
	test.Type(f.clientID, "op_test")
	f.nodes[0].region.SetSelected("eu-west")
	test.Type(f.secret, testSecret)
}

// TestFirstRunToOnlineJobOffline drives the whole first experience: setup → online →
// a job served → offline.
func TestFirstRunToOnlineJobOffline(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir)
	h.u.start(false)

	// First run: the setup screen, with the detected server as a node.
	if h.u.setup == nil {
		t.Fatal("first run did not show the setup screen")
	}
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })
	n := f.nodes[0]
	if n.url.Text != "http://127.0.0.1:11434" || n.apiMode.Selected != "ollama" || n.alias.Text != "ollama" {
		t.Errorf("detected node: url %q mode %q alias %q", n.url.Text, n.apiMode.Selected, n.alias.Text)
	}
	if !slices.Equal(n.interview.Options, []string{gatewayChoice, "llama3:8b", "qwen2:7b"}) {
		t.Errorf("interview choices = %q", n.interview.Options)
	}
	if h.menuItem("Go online (finish setup first)").Disabled != true {
		t.Error("Go online must be disabled before setup")
	}

	// Inline validation names the fields as the form labels them, every problem at once.
	if !f.save.Disabled() {
		t.Error("Save enabled on an empty form")
	}
	if got, want := f.problem.Text, "Client ID: enter your operator id (op_…) from the PIN dashboard\nAPI secret: paste your API secret (pin_sk_…) from the PIN dashboard"; got != want {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if n.region.Selected != "eu-central" || !strings.Contains(n.regionItem.HintText, "picked from your time zone (Europe/Berlin)") {
		t.Errorf("region %q, hint %q: want eu-central picked from the time zone", n.region.Selected, n.regionItem.HintText)
	}
	if err := f.clientID.Validate(); err == nil {
		t.Error("the client ID field shows no error")
	}
	test.Type(f.clientID, "op_test")
	if got := f.problem.Text; !strings.HasPrefix(got, "API secret: paste your API secret") {
		t.Errorf("after client id, problem = %q", got)
	}
	if err := f.clientID.Validate(); err != nil {
		t.Errorf("client ID still flagged: %v", err)
	}
	n.region.SetSelected("eu-west")
	if n.regionItem.HintText != "" {
		t.Errorf("after choosing a region, hint %q", n.regionItem.HintText)
	}
	test.Type(f.secret, testSecret)
	if f.problem.Visible() || f.save.Disabled() {
		t.Errorf("valid form: problem %q, save disabled %v", f.problem.Text, f.save.Disabled())
	}
	n.capacity.SetText("two")
	want := `Node 1 › Capacity: "two" is not a whole number;`
	if got := f.problem.Text; !strings.HasPrefix(got, want) || !f.save.Disabled() {
		t.Errorf("bad capacity: problem %q, save disabled %v", got, f.save.Disabled())
	}
	if err := n.capacity.Validate(); err == nil {
		t.Error("the capacity field shows no error")
	}
	n.capacity.SetText("0")
	if got := f.problem.Text; !strings.HasPrefix(got, "Node 1 › Capacity: 0 is not positive") {
		t.Errorf("zero capacity: problem %q", got)
	}
	n.capacity.SetText("2")
	n.price.SetText("0.002")

	// Test: the backend's models become the interview-model choices.
	test.Tap(n.test)
	h.until("probe", func() bool { return strings.HasPrefix(n.result.Text, "✓") })
	if !slices.Contains(n.interview.Options, "mistral:7b") {
		t.Errorf("after Test, choices = %q", n.interview.Options)
	}
	n.interview.SetSelected("llama3:8b")

	// Save and go online.
	test.Tap(f.save)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	if h.u.setup != nil {
		t.Error("still on the setup screen after saving")
	}
	if got := h.secrets.get("op_test"); got != testSecret {
		t.Error("the secret was not stored in the keyring")
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), testSecret) || strings.Contains(string(data), "apiSecret") {
		t.Errorf("config.json holds the secret:\n%s", data)
	}
	cfg, _, err := config.Load(filepath.Join(dir, "config.json"), nil)
	if err != nil {
		t.Fatalf("saved config does not load: %v", err)
	}
	got := cfg.Nodes[0]
	if cfg.ClientID != "op_test" || got.Region != "eu-west" || got.Capacity != 2 || got.Price() != 0.002 || got.InterviewModel != "llama3:8b" {
		t.Errorf("saved config: %+v node %+v", cfg, got)
	}
	eng := h.engine(0)
	if eng.secret.Reveal() != testSecret {
		t.Error("the engine did not get the secret")
	}
	d := h.u.dash
	if d.title.Text != "Online" || h.icon() != iconOnline || d.toggle.Text != "Go offline" {
		t.Errorf("online: title %q icon %v toggle %q", d.title.Text, h.icon(), d.toggle.Text)
	}
	if !strings.Contains(d.secret.Text, "OS keyring") || d.link.Text != "Gateway: aiassist.net/api/v1/pin (SSE over HTTPS)" {
		t.Errorf("dashboard: secret %q link %q", d.secret.Text, d.link.Text)
	}
	if !strings.Contains(d.logText, "node registered node=ollama") {
		t.Errorf("log view = %q", d.logText)
	}
	if !h.fa.Preferences().Bool(prefWantOnline) {
		t.Error("going online was not remembered")
	}

	if got := d.cards[0].tier.Text; got != "not interviewed yet" {
		t.Errorf("interview before any = %q", got)
	}
	if d.reason.Visible() {
		t.Errorf("empty reason shown: %q", d.reason.Text)
	}
	eng.set(func(st *core.Status) {
		st.Nodes[0].Tier, st.Nodes[0].Accuracy, st.Nodes[0].TokensPerSec, st.Nodes[0].InterviewAt = "verified", 96, 42.25, h.now
	})
	h.until("interviewed", func() bool { return d.cards[0].tier.Text == "tier verified, accuracy 96%, 42.2 tok/s" })

	// A job is served.
	eng.startJob(0)
	h.until("job running", func() bool { return d.cards[0].jobs.Text == "1 in flight, 0 served" })
	eng.finishJob(0, 400, 600)
	h.until("job served", func() bool { return d.cards[0].jobs.Text == "0 in flight, 1 served" })
	if d.cards[0].tokens.Text != "1000" || d.cards[0].earnings.Text != "$0.0020" {
		t.Errorf("after the job: tokens %q earnings %q", d.cards[0].tokens.Text, d.cards[0].earnings.Text)
	}
	if !strings.Contains(d.totals.Text, "1 served") || !strings.Contains(d.totals.Text, "$0.0020 estimated") {
		t.Errorf("totals = %q", d.totals.Text)
	}

	// Offline from the tray while a job runs: draining first.
	eng.startJob(0)
	h.until("second job", func() bool { return h.u.last.InFlight == 1 })
	h.tapMenu("Go offline")
	h.until("draining", func() bool { return h.u.last.State == core.StateDraining })
	if it := h.menuItem("Going offline…"); !it.Disabled {
		t.Error("the toggle must be disabled while draining")
	}
	if d.reason.Text != "finishing 1 running job, then going offline" {
		t.Errorf("draining reason = %q", d.reason.Text)
	}
	eng.finishJob(0, 10, 10)
	h.until("offline", func() bool { return h.u.last.State == core.StateOffline })
	if h.icon() != iconOffline || d.title.Text != "Offline" {
		t.Errorf("offline: icon %v title %q", h.icon(), d.title.Text)
	}
	if h.menuItem("Go online").Disabled {
		t.Error("Go online disabled when offline")
	}
	if h.fa.Preferences().Bool(prefWantOnline) {
		t.Error("going offline was not remembered")
	}
}

// writeConfig writes a valid config.json into dir, as a previous run's Save would have.
func writeConfig(t *testing.T, dir string) {
	t.Helper()
	p := 0.001
	cfg := &config.Config{ClientID: "op_saved", Nodes: []config.Node{{
		Alias: "gpu-1", InferenceURI: "http://127.0.0.1:11434", APIMode: "ollama", Region: "us-east", Capacity: 1, PricePerThousandTokens: &p,
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(filepath.Join(dir, "config.json"), false); err != nil {
		t.Fatal(err)
	}
}

// newConfigured is a harness for an app set up by a previous run: config.json saved, the
// secret in the keyring, and online wanted or not.
func newConfigured(t *testing.T, wantOnline bool, opts ...harnessOpt) *harness {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir)
	h := newHarness(t, dir, opts...)
	if _, err := h.secrets.Store("op_saved", secretOf(testSecret)); err != nil {
		t.Fatal(err)
	}
	h.fa.Preferences().SetBool(prefWantOnline, wantOnline)
	return h
}

func TestStartRemembersOnline(t *testing.T) {
	for _, wantOnline := range []bool{false, true} {
		t.Run(map[bool]string{false: "stays offline", true: "goes online"}[wantOnline], func(t *testing.T) {
			h := newConfigured(t, wantOnline)
			h.u.start(true)
			h.until("engine", func() bool { return h.engineCount() == 1 && h.u.eng != nil })
			want := core.StateOffline
			if wantOnline {
				want = core.StateOnline
			}
			h.until(want.String(), func() bool { return h.u.last.State == want })
			if h.u.setup != nil {
				t.Error("a configured start showed the setup screen")
			}
		})
	}
}

func TestMissingSecretNeedsAttention(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir) // config, but nothing in the keyring
	h := newHarness(t, dir)
	h.fa.Preferences().SetBool(prefWantOnline, true)
	h.u.start(true)
	h.until("lookup", func() bool { return h.u.last.LastError != "" })
	if h.engineCount() != 0 {
		t.Error("an engine started without a secret")
	}
	if h.icon() != iconAttention || h.u.dash.reason.Text != "no API secret found for op_saved" {
		t.Errorf("icon %v reason %q", h.icon(), h.u.dash.reason.Text)
	}
	if h.u.setup == nil {
		t.Error("wanting online without a secret must open the setup screen")
	}
}

func TestSettingsKeepsStoredSecretAndRestarts(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(false)
	h.until("engine", func() bool { return h.u.eng != nil })
	first := h.engine(0)

	test.Tap(h.u.dash.settings)
	f := h.u.setup
	if f == nil || f.clientID.Text != "op_saved" || f.secret.Text != "" || len(f.nodes) != 1 {
		t.Fatalf("settings not filled from the saved config: %+v", f)
	}
	if f.save.Disabled() {
		t.Fatalf("saved config does not validate in the form: %q", f.problem.Text)
	}
	f.nodes[0].alias.SetText("gpu-renamed")
	test.Tap(f.save)
	h.until("second engine online", func() bool {
		return h.engineCount() == 2 && h.u.last.State == core.StateOnline
	})
	<-first.ran // the first engine was stopped before the second started
	if got := h.engine(1).cfg.Nodes[0].Alias; got != "gpu-renamed" {
		t.Errorf("new engine alias = %q", got)
	}
	if h.engine(1).secret.Reveal() != testSecret {
		t.Error("the stored secret was not reused")
	}

	// A changed client ID without a secret for it is refused with a clear error.
	test.Tap(h.u.dash.settings)
	f = h.u.setup
	f.clientID.SetText("op_other")
	test.Tap(f.save)
	h.until("save error", func() bool { return f.problem.Visible() })
	if got := f.problem.Text; got != "API secret: none stored for op_other; paste your API secret" {
		t.Errorf("problem = %q", got)
	}
	if err := f.secret.Validate(); err == nil {
		t.Error("the API secret field shows no error")
	}
}

func TestKeyringFailureShown(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.secrets.storeErr = errNoKeyring
	h.u.start(false)
	h.until("detection", func() bool { return len(h.u.setup.nodes) == 1 })
	fillSetup(t, h)
	test.Tap(h.u.setup.save)
	h.until("error", func() bool { return h.u.setup.problem.Visible() })
	if got := h.u.setup.problem.Text; got != "API secret: "+errNoKeyring.Error() {
		t.Errorf("problem = %q", got)
	}
	if strings.Contains(h.u.setup.problem.Text, testSecret) {
		t.Error("the secret appears in the error")
	}
	if _, err := os.Stat(filepath.Join(h.u.opts.ConfigDir, "config.json")); err == nil {
		t.Error("config saved although the secret could not be stored")
	}
	if h.engineCount() != 0 {
		t.Error("engine started")
	}
}

func TestQuitDrainsThenQuits(t *testing.T) {
	h := newConfigured(t, true)
	h.u.start(true)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	eng := h.engine(0)
	eng.startJob(0)
	h.until("job", func() bool { return h.u.last.InFlight == 1 })

	h.tapMenu("Quit")
	h.until("draining", func() bool { return h.u.last.State == core.StateDraining })
	if h.fa.quits != 0 {
		t.Fatal("quit before the running job finished")
	}
	if it := h.menuItem("PIN Client: quitting, finishing 1 running job, then going offline"); !it.Disabled {
		t.Error("status item enabled")
	}
	if !h.menuItem("Quit").Disabled || !h.menuItem("Going offline…").Disabled {
		t.Error("items still enabled while quitting")
	}
	h.u.quit() // a second Quit is ignored
	eng.finishJob(0, 1, 1)
	h.until("quit", func() bool { return h.fa.quits == 1 })
	if h.u.eng != nil || h.u.last.State != core.StateOffline {
		t.Errorf("after quit: engine %v state %v", h.u.eng, h.u.last.State)
	}
}

func TestCloseWindow(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.u.start(false)
	h.u.closeWindow()
	if h.u.quitting || h.fa.quits != 0 {
		t.Error("closing the window quit the app although it has a tray")
	}

	// Without a tray there is no way back to a hidden window: closing quits.
	h2 := newHarness(t, t.TempDir())
	h2.u.tray = nil
	h2.u.start(false)
	h2.u.closeWindow()
	h2.until("quit", func() bool { return h2.fa.quits == 1 })
}

func TestTrayRebuiltOnlyWhenChanged(t *testing.T) {
	h := newConfigured(t, true)
	h.u.start(true)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	menus, icons := len(h.tray.menus), len(h.tray.icons)
	old := h.menu()
	eng := h.engine(0)
	eng.startJob(0)
	eng.finishJob(0, 5, 5)
	h.until("served", func() bool { return h.u.last.Served == 1 })
	if len(h.tray.menus) != menus || len(h.tray.icons) != icons {
		t.Errorf("tray rebuilt for a snapshot that changes nothing in it: menus %d→%d icons %d→%d",
			menus, len(h.tray.menus), icons, len(h.tray.icons))
	}
	eng.GoOffline()
	h.until("offline", func() bool { return h.u.last.State == core.StateOffline })
	if h.menu() == old {
		t.Error("menu not rebuilt")
	}
	if old.Items[2].Label != "Go offline" {
		t.Errorf("the old menu was mutated: %q", old.Items[2].Label)
	}
}

func TestReconnectCountdownAndButton(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(true)
	h.until("engine", func() bool { return h.u.eng != nil })
	eng := h.engine(0)
	eng.set(func(st *core.Status) {
		st.State = core.StateReconnecting
		st.RetryAt = h.now.Add(3 * time.Second)
		st.LastError = "dial gateway: connection refused"
	})
	h.until("reconnecting", func() bool { return h.u.last.State == core.StateReconnecting })
	d := h.u.dash
	if d.title.Text != "Reconnecting in 3 s" || d.reason.Text != "dial gateway: connection refused" || !d.reconnect.Visible() {
		t.Errorf("title %q reason %q reconnect visible %v", d.title.Text, d.reason.Text, d.reconnect.Visible())
	}
	// The countdown re-renders the last snapshot when its timer fires.
	tm := h.timers[len(h.timers)-1]
	if tm.d <= 0 || tm.d > 1100*time.Millisecond {
		t.Errorf("tick after %v", tm.d)
	}
	h.now = h.now.Add(time.Second)
	tm.f()
	h.pump()
	if d.title.Text != "Reconnecting in 2 s" {
		t.Errorf("after a second: %q", d.title.Text)
	}
	h.tapMenu("Reconnect now")
	test.Tap(d.reconnect)
	eng.mu.Lock()
	n := eng.reconnects
	eng.mu.Unlock()
	if n != 2 {
		t.Errorf("ReconnectNow called %d times, want 2", n)
	}
	eng.GoOnline()
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	if !tm.stopped {
		t.Error("countdown timer left running after going online")
	}
	if d.reconnect.Visible() {
		t.Error("Reconnect now shown while online")
	}
}

func TestAutostartAndServiceFromTray(t *testing.T) {
	h := newConfigured(t, true)
	h.u.start(true)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })

	if got := h.menuItem("Start at login").Label; got != "☐ Start at login" {
		t.Fatalf("start at login: %q, want it off and saying so", got)
	}
	h.tapMenu("Start at login")
	if !h.auto.on || h.menuItem("Start at login").Label != "☑ Start at login" {
		t.Error("start at login not turned on")
	}
	h.tapMenu("Start at login")
	if h.auto.on {
		t.Error("start at login not turned off")
	}

	h.tapMenu("Install background service…") // opens a confirmation
	if h.inst.calls.Load() != 0 {
		t.Fatal("installed without confirmation")
	}
}

func TestRemoveAndAddNodes(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.u.start(false)
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })
	if !strings.HasPrefix(f.detectNote.Text, "Found Ollama at http://127.0.0.1:11434.") {
		t.Errorf("detect note = %q", f.detectNote.Text)
	}
	// Detecting again does not duplicate the node.
	test.Tap(f.detect)
	h.until("second detection", func() bool { return strings.HasSuffix(f.detectNote.Text, "(already listed).") })
	if len(f.nodes) != 1 {
		t.Fatalf("%d nodes after detecting twice", len(f.nodes))
	}
	fillSetup(t, h)
	f.addNode(newNodeForm(f, "Ollama", "http://127.0.0.1:9", "ollama", nil))
	f.revalidate()
	second := f.nodes[1]
	if second.alias.Text != "ollama-2" || second.card.Title != "Node 2 — Ollama" {
		t.Errorf("second node: alias %q title %q", second.alias.Text, second.card.Title)
	}
	if f.problem.Visible() || second.region.Selected != "eu-central" {
		t.Errorf("second node: problem %q, region %q (want the time zone's)", f.problem.Text, second.region.Selected)
	}
	test.Tap(second.test)
	h.until("probe", func() bool { return strings.HasPrefix(second.result.Text, "✗") })
	if !strings.Contains(second.result.Text, "nothing listens at http://127.0.0.1:9") {
		t.Errorf("probe result = %q", second.result.Text)
	}
	second.alias.SetText("ollama")
	second.region.SetSelected("global")
	if got := f.problem.Text; !strings.HasPrefix(got, `Node 2 › Alias: "ollama" is already used by Node 1`) {
		t.Errorf("duplicate alias: problem = %q", got)
	}
	if err := second.alias.Validate(); err == nil {
		t.Error("the duplicate alias field shows no error")
	}
	f.removeNode(f.nodes[0])
	if len(f.nodes) != 1 || f.nodes[0].card.Title != "Node 1 — Ollama" || f.problem.Visible() {
		t.Errorf("after remove: %d nodes, title %q, problem %q", len(f.nodes), f.nodes[0].card.Title, f.problem.Text)
	}
}

func TestGoOnlineWhileStarting(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(true)        // the engine's start waits for the UI queue, not pumped yet
	h.tapMenu("Go online") // so no engine exists when the operator asks
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	if n := h.engineCount(); n != 1 {
		t.Errorf("%d engines started, want 1", n)
	}
}
