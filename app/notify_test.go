package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/core"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func node(alias string, ok bool, tier string) core.NodeStatus {
	n := core.NodeStatus{Alias: alias, BackendURL: "http://127.0.0.1:11434", BackendOK: ok, Tier: tier}
	if !ok {
		n.BackendError = "connection refused; fix: start Ollama"
	}
	return n
}

func online(nodes ...core.NodeStatus) core.Status {
	return core.Status{State: core.StateOnline, Nodes: nodes}
}

// run feeds snapshots (at the given offsets from t0) to decide and returns the titles
// of the notices, in order.
type step struct {
	at     time.Duration
	st     core.Status
	engine string
}

func run(steps ...step) (titles []string, last watch, recheck time.Time) {
	var w watch
	for _, s := range steps {
		e := s.engine
		if e == "" {
			e = "eng1"
		}
		var out []notice
		w, out, recheck = decide(w, s.st, e, t0.Add(s.at))
		for _, n := range out {
			titles = append(titles, n.title)
		}
	}
	return titles, w, recheck
}

func TestDecideNothingForTheStateFoundAtStart(t *testing.T) {
	found := core.Status{State: core.StateAuthRejected, Paused: true, PauseReason: "paused by you",
		Nodes: []core.NodeStatus{node("a", false, "verified")}}
	titles, _, _ := run(step{0, found, ""}, step{5 * time.Minute, found, ""})
	if len(titles) != 0 {
		t.Errorf("notices for the state the app found: %q", titles)
	}
	// Attaching to another engine is a new start: its state is not news either.
	other := found
	other.Nodes = []core.NodeStatus{node("a", false, "slow")}
	other.Paused = false
	titles, _, _ = run(step{0, online(node("a", true, "verified")), ""}, step{time.Second, other, "eng2"}, step{2 * time.Minute, other, "eng2"})
	if len(titles) != 0 {
		t.Errorf("notices on attaching to another engine: %q", titles)
	}
}

func TestDecideAuthRejectedOncePerRejection(t *testing.T) {
	rej := core.Status{State: core.StateAuthRejected, LastError: "the gateway rejected the client id or secret"}
	conn := core.Status{State: core.StateConnecting}
	titles, _, _ := run(step{0, conn, ""}, step{time.Second, rej, ""}, step{2 * time.Second, rej, ""},
		step{time.Minute, conn, ""}, step{time.Minute + time.Second, rej, ""}, // a slow retry, rejected again
		step{time.Hour, online(), ""}, step{time.Hour + time.Second, rej, ""})
	want := []string{"PIN Client: credentials rejected", "PIN Client: credentials rejected"}
	if !slices.Equal(titles, want) {
		t.Errorf("titles = %q, want one per rejection after being online: %q", titles, want)
	}
	var w watch
	w, _, _ = decide(w, conn, "e", t0)
	_, out, _ := decide(w, rej, "e", t0)
	if len(out) != 1 || out[0].body != "The gateway rejected the client id or secret. Open Settings to fix them." {
		t.Errorf("notice = %+v", out)
	}
}

func TestDecideBackendDownForOverAMinute(t *testing.T) {
	up, down := online(node("ws", true, "")), online(node("ws", false, ""))
	// Down for 50 s: nothing; decide asks to be called again when a minute is up.
	titles, _, recheck := run(step{0, up, ""}, step{10 * time.Second, down, ""}, step{50 * time.Second, down, ""})
	if len(titles) != 0 || !recheck.Equal(t0.Add(70*time.Second)) {
		t.Errorf("titles %q, recheck %v", titles, recheck)
	}
	titles, _, _ = run(step{0, up, ""}, step{10 * time.Second, down, ""}, step{50 * time.Second, down, ""}, step{40 * time.Second, up, ""},
		step{2 * time.Minute, down, ""}, step{2*time.Minute + 59*time.Second, down, ""})
	if len(titles) != 0 {
		t.Errorf("short outages told: %q", titles)
	}
	// A minute and more: told once, however long it lasts; again after it came back.
	titles, w, recheck := run(step{0, up, ""}, step{10 * time.Second, down, ""}, step{70 * time.Second, down, ""},
		step{5 * time.Minute, down, ""}, step{10 * time.Minute, up, ""}, step{11 * time.Minute, down, ""}, step{12 * time.Minute, down, ""})
	if want := []string{"PIN Client: ws is not serving", "PIN Client: ws is not serving"}; !slices.Equal(titles, want) {
		t.Errorf("titles = %q, want %q", titles, want)
	}
	if !recheck.IsZero() || !w.downTold["ws"] {
		t.Errorf("after telling: recheck %v, told %v", recheck, w.downTold)
	}
	// An engine that is offline is not checking its backends.
	off := down
	off.State = core.StateOffline
	titles, _, _ = run(step{0, up, ""}, step{time.Second, off, ""}, step{5 * time.Minute, off, ""})
	if len(titles) != 0 {
		t.Errorf("offline engine: %q", titles)
	}
}

func TestDecideTierAndPause(t *testing.T) {
	titles, _, _ := run(step{0, online(node("a", true, ""), node("b", true, "verified")), ""},
		step{time.Minute, online(node("a", true, "standard"), node("b", true, "verified")), ""},
		step{2 * time.Minute, online(node("a", true, "standard"), node("b", true, "failed")), ""},
		step{3 * time.Minute, online(node("a", true, "standard"), node("b", true, "failed")), ""})
	want := []string{"PIN Client: a is now tier standard", "PIN Client: b failed its interview"}
	if !slices.Equal(titles, want) {
		t.Errorf("tier titles = %q, want %q", titles, want)
	}

	paused := core.Status{State: core.StateOffline, Paused: true, PauseReason: "paused by you", PausedUntil: t0.Add(90 * time.Minute)}
	var w watch
	w, _, _ = decide(w, online(), "e", t0)
	w, out, _ := decide(w, paused, "e", t0.Add(time.Minute))
	if len(out) != 1 || out[0].kind != noticePause || !strings.Contains(out[0].body, "(paused by you); serving resumes at ") {
		t.Fatalf("pause notice = %+v", out)
	}
	w, out, _ = decide(w, paused, "e", t0.Add(2*time.Minute))
	if len(out) != 0 {
		t.Errorf("still paused: %+v", out)
	}
	_, out, _ = decide(w, online(), "e", t0.Add(90*time.Minute))
	if len(out) != 1 || out[0].title != "PIN Client: resumed" {
		t.Errorf("resume notice = %+v", out)
	}
}

func TestDecideIsPure(t *testing.T) {
	var w watch
	w, _, _ = decide(w, online(node("ws", true, "")), "e", t0)
	w2, _, _ := decide(w, online(node("ws", false, "")), "e", t0.Add(time.Second))
	if len(w.downSince) != 0 || len(w2.downSince) != 1 {
		t.Errorf("decide changed its input: before %v after %v", w.downSince, w2.downSince)
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.Local)
	for at, want := range map[time.Time]string{
		now.Add(time.Hour):          "at 10:00",
		now.Add(23 * time.Hour):     "tomorrow at 08:00",
		now.Add(3 * 24 * time.Hour): "on Thu 5 Mar at 09:00",
	} {
		if got := when(at, now); got != want {
			t.Errorf("when(%v) = %q, want %q", at, got, want)
		}
	}
}

// sent records the notifications the app sends.
func recordSent(h *harness) *[]*fyne.Notification {
	var sent []*fyne.Notification
	h.u.views.notes.send = func(n *fyne.Notification) { sent = append(sent, n) }
	return &sent
}

func TestNotifierSendsAndHonoursSettings(t *testing.T) {
	dir := t.TempDir()
	writeTestConfig(t, dir)
	h := newHarness(t, dir)
	timers := recordTimers(h)
	sent := recordSent(h)
	h.u.start(false)
	h.until("engine", func() bool { return h.u.eng != nil })
	e := h.engine(0)
	set := func(f func(*core.Status)) {
		e.mu.Lock()
		f(&e.st)
		e.publishLocked()
		e.mu.Unlock()
		h.pump()
	}
	set(func(s *core.Status) { s.State = core.StateOnline })
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })

	// Tier changes are told by default.
	set(func(s *core.Status) { s.Nodes[0].Tier = "verified" })
	h.until("tier notice", func() bool { return len(*sent) == 1 })
	if (*sent)[0].Title != "PIN Client: workstation is now tier verified" {
		t.Errorf("sent %+v", (*sent)[0])
	}

	// Turned off in the Notifications tab: remembered in the preferences, not sent.
	checks := h.u.views.notes.checks
	h.u.views.tabs.Select(h.u.views.notesTab)
	h.u.win.Resize(fyne.NewSize(860, 720))
	test.Tap(checks[noticeTier])
	dumpPNG(t, h.u.win, "notifications.png")
	if checks[noticeTier].Checked || h.fa.Preferences().BoolWithFallback("notify.tierChanged", true) {
		t.Fatal("unticking the tier notification did not persist")
	}
	set(func(s *core.Status) { s.Nodes[0].Tier = "slow" })
	h.until("the slow tier shown", func() bool { return h.u.last.Nodes[0].Tier == "slow" })
	if len(*sent) != 1 {
		t.Errorf("a turned-off kind was sent: %+v", (*sent)[len(*sent)-1])
	}

	// A new window reads the saved choice.
	n2 := newNotifier(h.u.views)
	if n2.checks[noticeTier].Checked || !n2.checks[noticeAuth].Checked {
		t.Error("the Notifications tab does not show the saved choices")
	}

	// A backend outage is told when the minute is up, without a new snapshot.
	h.now = h.now.Add(time.Second)
	set(func(s *core.Status) { s.Nodes[0].BackendOK, s.Nodes[0].BackendError = false, "connection refused" })
	h.until("down shown", func() bool { return !h.u.last.Nodes[0].BackendOK })
	due := timers.pending(backendGrace)
	if due == nil {
		t.Fatal("no re-check scheduled for the outage")
	}
	h.now = h.now.Add(backendGrace)
	due.f()
	h.until("backend notice", func() bool { return len(*sent) == 2 })
	if !strings.Contains((*sent)[1].Content, "cannot reach its LLM server at http://127.0.0.1:11434 for over a minute: connection refused") {
		t.Errorf("backend notice = %q", (*sent)[1].Content)
	}
	for _, n := range *sent {
		if strings.Contains(n.Title+n.Content, testSecret) {
			t.Fatal("a notification carries the secret")
		}
	}
}

func TestThroughputRates(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	samples := []tokenSample{{t0, 0}, {t0.Add(9 * time.Minute), 3000}, {t0.Add(9*time.Minute + 40*time.Second), 4500}}
	pts := rates(samples, now)
	if len(pts) != 20 {
		t.Fatalf("%d points, want 20 over 10 minutes", len(pts))
	}
	var got []float64
	for _, p := range pts[len(pts)-4:] {
		got = append(got, p.v)
	}
	// The steps 8:00, 8:30, 9:00 and 9:30 (minutes after t0): the counter reached 3000
	// at 9:00 (in the step ending then) and 4500 at 9:40.
	if want := []float64{0, 100, 0, 50}; !slices.Equal(got, want) {
		t.Errorf("last rates = %v, want %v", got, want)
	}
	if rates(nil, now) != nil {
		t.Error("rates of no samples")
	}
	// Steps before the engine's first sample are left out; the one it falls in counts
	// from it, once 10 s of it have passed (here the step ending at it has none).
	if pts := rates([]tokenSample{{now.Add(-time.Minute), 10}}, now); len(pts) != 2 {
		t.Errorf("a minute of samples gave %d steps, want 2", len(pts))
	}
	// Attached to an engine that has served already: the first step is its rate since the
	// first sample, not 0; under 10 s there is no rate yet.
	busy := []tokenSample{{now.Add(-20 * time.Second), 2000}, {now.Add(-time.Second), 2400}}
	if pts := rates(busy, now); len(pts) != 1 || pts[0].v != 20 {
		t.Errorf("20 s after attaching: %v, want one step of 20 tok/s", pts)
	}
	if pts := rates([]tokenSample{{now.Add(-5 * time.Second), 2000}}, now); len(pts) != 0 {
		t.Errorf("5 s after attaching: %v, want no rate yet", pts)
	}
}

func TestThroughputLineOnDashboard(t *testing.T) {
	dir := t.TempDir()
	writeTestConfig(t, dir)
	h := newHarness(t, dir)
	h.u.views.after = manualAfter(h)
	h.u.start(false)
	h.until("engine", func() bool { return h.u.eng != nil })
	r := h.u.views.rate
	if !slices.Contains(h.u.dash.rateSlot.Objects, fyne.CanvasObject(r.chart)) {
		t.Fatal("the throughput line is not on the dashboard")
	}
	h.until("the first sample", func() bool { return len(r.samples) > 0 })
	if r.chart.empty != "Measuring tokens/s…" || len(r.chart.series[0].pts) != 0 {
		t.Errorf("before 10 s of samples: %q, %d points; want Measuring and none", r.chart.empty, len(r.chart.series[0].pts))
	}
	e := h.engine(0)
	for i := 1; i <= 4; i++ {
		h.now = h.now.Add(30 * time.Second)
		e.mu.Lock()
		e.st.Tokens += 600
		e.publishLocked()
		e.mu.Unlock()
		h.until("tokens", func() bool { return h.u.last.Tokens == uint64(600*i) })
	}
	h.u.win.Resize(fyne.NewSize(860, 720))
	dumpPNG(t, h.u.win, "dashboard.png")
	if r.chart.note != "now 20 tok/s" {
		t.Errorf("note = %q", r.chart.note)
	}
	if !slices.Contains(texts(r.chart), "now 20 tok/s") || drew(r.chart).lines == 0 {
		t.Errorf("line drew %q", texts(r.chart))
	}
}
