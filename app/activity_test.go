package app

import (
	"context"
	"errors"
	"image/color"
	"image/png"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/internal/ledger"
	"github.com/pin-client/pin-client/internal/ledger/sampleweek"
)

// fakeActivity is an ActivitySource that records the spans asked for.
type fakeActivity struct {
	mu    sync.Mutex
	spans []time.Duration
	act   func(span time.Duration) ledger.Activity
	err   error
}

func (f *fakeActivity) Activity(_ context.Context, span time.Duration) (ledger.Activity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spans = append(f.spans, span)
	if f.err != nil {
		return ledger.Activity{}, f.err
	}
	return f.act(span), nil
}

func (f *fakeActivity) asked() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.spans)
}

// engineWithLedger is the app's own engine with a ledger (what *host.Host is after
// the ledger lands).
type engineWithLedger struct {
	*fakeEngine
	*fakeActivity
}

// activityHarness is a configured app whose own engine keeps the week of ledger data
// of internal/ledger/sampleweek, ending at h.now.
func activityHarness(t *testing.T) (*harness, *fakeActivity) {
	t.Helper()
	dir := t.TempDir()
	writeTestConfig(t, dir)
	src := &fakeActivity{}
	h := newHarness(t, dir, func(hh *harness, o *Options) {
		newEngine := o.NewEngine
		o.NewEngine = func(spec EngineSpec) (Engine, error) {
			e, err := newEngine(spec)
			if err != nil {
				return nil, err
			}
			return engineWithLedger{e.(*fakeEngine), src}, nil
		}
	})
	now := h.now
	src.act = func(span time.Duration) ledger.Activity {
		return ledger.BuildActivity(sampleweek.Receipts(now.Add(-span), now, time.UTC), now.Add(-span), now, time.UTC)
	}
	h.u.views.after = manualAfter(h)
	h.u.start(false)
	h.until("engine", func() bool { return h.u.eng != nil })
	return h, src
}

// manualAfter gives the views timers that never fire by themselves (and stay out of
// h.timers, which other tests read).
func manualAfter(h *harness) func(time.Duration, func()) stopper {
	return func(d time.Duration, f func()) stopper {
		return &manualTimer{d: d, f: f}
	}
}

// timerLog holds the timers the views asked for, so a test can fire one by hand.
type timerLog struct{ timers []*manualTimer }

// recordTimers gives h's views timers that never fire by themselves, and logs them.
func recordTimers(h *harness) *timerLog {
	l := &timerLog{}
	h.u.views.after = func(d time.Duration, f func()) stopper {
		m := &manualTimer{d: d, f: f}
		l.timers = append(l.timers, m)
		return m
	}
	return l
}

// pending is the newest timer of d that was not stopped, or nil.
func (l *timerLog) pending(d time.Duration) *manualTimer {
	for i := len(l.timers) - 1; i >= 0; i-- {
		if m := l.timers[i]; m.d == d && !m.stopped {
			return m
		}
	}
	return nil
}

func writeTestConfig(t *testing.T, dir string) {
	t.Helper()
	cfg := `{"clientId": "op_test", "serverUrl": "https://gw.example", "apiSecret": "` + testSecret + `",
 "nodes": [{"alias": "workstation", "inferenceUri": "http://127.0.0.1:11434", "apiMode": "ollama",
            "region": "eu-west", "capacity": 2, "pricePerThousandTokens": 0.002}]}`
	if err := os.WriteFile(dir+"/config.json", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// texts are the canvas texts a chart drew.
func texts(c *chart) []string {
	var out []string
	for _, o := range test.WidgetRenderer(c).Objects() {
		if t, ok := o.(*canvas.Text); ok {
			out = append(out, t.Text)
		}
	}
	return out
}

func drew(c *chart) *chartRenderer { return test.WidgetRenderer(c).(*chartRenderer) }

// showActivity selects the Activity tab in a window of the app's size and waits for
// the read to be shown.
func showActivity(t *testing.T, h *harness, wantReads int, src *fakeActivity) *activityView {
	t.Helper()
	v := h.u.views
	v.tabs.Select(v.actTab)
	h.until("the ledger read shown", func() bool { return len(src.asked()) >= wantReads && len(v.act.last.Hourly) > 0 })
	h.u.win.Resize(fyne.NewSize(860, 720))
	return v.act
}

func dumpPNG(t *testing.T, w fyne.Window, name string) {
	dir := os.Getenv("PIN_CLIENT_TEST_PNG")
	if dir == "" {
		return
	}
	f, err := os.Create(dir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, w.Canvas().Capture()); err != nil {
		t.Fatal(err)
	}
}

func TestActivityWeekOfData(t *testing.T) {
	h, src := activityHarness(t)
	a := showActivity(t, h, 1, src)
	if got := src.asked(); got[0] != 24*time.Hour {
		t.Fatalf("the view first asked for %v, want the last 24 hours", got)
	}
	a.choice.SetSelected(choice7d)
	h.until("the week shown", func() bool { return len(a.last.Hourly) > 25 }) // 24 h: 25 hours (the current one too)
	dumpPNG(t, h.u.win, "activity-week.png")
	if got := src.asked()[1]; got != 7*24*time.Hour {
		t.Fatalf("7 days asked for %v", got)
	}
	if !strings.Contains(a.summary.Text, "in the last 7 days") || !strings.Contains(a.summary.Text, "jobs ·") {
		t.Errorf("summary = %q", a.summary.Text)
	}
	// 7 days of hours: bars for the hours with jobs (every hour of the sample week
	// has some), day labels under the axis.
	if n := drew(a.tokens).bars; n < 160 || n > 169 {
		t.Errorf("tokens chart drew %d bars for a week of hours", n)
	}
	tt := texts(a.tokens)
	if !slices.ContainsFunc(tt, func(s string) bool { return strings.HasPrefix(s, "Mon ") }) {
		t.Errorf("week axis has no day labels: %q", tt)
	}
	if !slices.ContainsFunc(tt, func(s string) bool { return strings.HasSuffix(s, "k") }) {
		t.Errorf("tokens axis has no thousands ticks: %q", tt)
	}
	// Earnings: one bar per day touched (8), each with its value in dollars.
	if n := drew(a.earnings).bars; n != 8 {
		t.Errorf("earnings drew %d day bars, want 8", n)
	}
	if !slices.ContainsFunc(texts(a.earnings), func(s string) bool { return strings.HasPrefix(s, "$") }) {
		t.Errorf("earnings shows no dollar values: %q", texts(a.earnings))
	}
	// Outcomes: completed first, then the failures.
	ot := texts(a.outcomes)
	if i, j := slices.Index(ot, "completed"), slices.Index(ot, "link lost"); i < 0 || j < i {
		t.Errorf("outcome rows = %q", ot)
	}
}

func TestActivityToggleAndPerNodeSeries(t *testing.T) {
	h, src := activityHarness(t)
	a := showActivity(t, h, 1, src)
	if n := drew(a.tokens).bars; n < 20 || n > 25 {
		t.Errorf("24 hours drew %d bars", n)
	}
	if tt := texts(a.tokens); !slices.Contains(tt, "18:00") || !slices.Contains(tt, "06:00") {
		t.Errorf("24 h axis labels: %q", tt)
	}
	if !strings.Contains(a.summary.Text, "in the last 24 hours") {
		t.Errorf("summary = %q", a.summary.Text)
	}
	dumpPNG(t, h.u.win, "activity-24h.png")
	// One line per node, named in the legend; the laptop serves only in the evening.
	for _, c := range []*chart{a.speed, a.ttft} {
		names := []string{}
		for _, s := range c.series {
			names = append(names, s.name)
		}
		if !slices.Equal(names, []string{"gpu-box", "laptop", "workstation"}) {
			t.Errorf("%s series = %q", c.title, names)
		}
		for _, n := range names {
			if !slices.Contains(texts(c), n) {
				t.Errorf("%s legend lacks %s", c.title, n)
			}
		}
		if drew(c).lines == 0 {
			t.Errorf("%s drew no lines", c.title)
		}
		for _, o := range drew(c).Objects() { // every swatch, bar and line is visible
			var col color.Color
			switch o := o.(type) {
			case *canvas.Rectangle:
				col = o.FillColor
			case *canvas.Line:
				col = o.StrokeColor
			case *canvas.Circle:
				col = o.FillColor
			default:
				continue
			}
			if _, _, _, a := col.RGBA(); a == 0 {
				t.Fatalf("%s drew an invisible %T", c.title, o)
			}
		}
	}
	ws := a.speed.series[2]
	for _, p := range ws.pts {
		if p.v < 70 || p.v > 100 {
			t.Fatalf("workstation tokens/s point %v outside its sample range", p)
		}
	}
	if tt := texts(a.ttft); !slices.ContainsFunc(tt, func(s string) bool { return strings.HasSuffix(s, " ms") || strings.HasSuffix(s, " s") }) {
		t.Errorf("TTFT axis without units: %q", tt)
	}

	a.choice.SetSelected(choice7d)
	h.until("the week shown", func() bool { return len(a.last.Hourly) > 25 }) // 24 h: 25 hours (the current one too)
	if n := drew(a.tokens).bars; n < 160 {
		t.Errorf("7 days drew %d bars", n)
	}
	a.choice.SetSelected(choice24h)
	h.until("24 h shown again", func() bool { return len(src.asked()) == 3 && len(a.last.Hourly) <= 25 })
	if n := drew(a.tokens).bars; n > 25 {
		t.Errorf("back to 24 hours: %d bars", n)
	}
	if got := src.asked(); got[2] != 24*time.Hour {
		t.Errorf("asked %v", got)
	}
}

func TestActivityEmptyAndNoLedger(t *testing.T) {
	h, src := activityHarness(t)
	src.mu.Lock()
	src.act = func(span time.Duration) ledger.Activity {
		return ledger.BuildActivity(nil, h.now.Add(-span), h.now, time.UTC)
	}
	src.mu.Unlock()
	a := showActivity(t, h, 1, src)
	dumpPNG(t, h.u.win, "activity-empty.png")
	if !strings.HasPrefix(a.summary.Text, "No activity recorded yet in the last 24 hours") {
		t.Errorf("empty summary = %q", a.summary.Text)
	}
	for _, c := range []*chart{a.tokens, a.jobs, a.earnings, a.outcomes, a.speed, a.ttft} {
		if !slices.Contains(texts(c), "No jobs in this period") {
			t.Errorf("%s: no empty message in %q", c.title, texts(c))
		}
		if drew(c).bars+drew(c).lines+drew(c).dots != 0 {
			t.Errorf("%s drew data in the empty state", c.title)
		}
	}

	// An error from the ledger is said in the summary, as a sentence.
	src.mu.Lock()
	src.err = errors.New("ledger: database is locked")
	src.mu.Unlock()
	a.refresh()
	h.until("the failed read", func() bool { return strings.Contains(a.summary.Text, "locked") })
	if a.summary.Text != "Ledger: database is locked." {
		t.Errorf("error summary = %q", a.summary.Text)
	}
}

func TestActivityWithoutLedger(t *testing.T) {
	dir := t.TempDir()
	writeTestConfig(t, dir)
	h := newHarness(t, dir) // its fake engine keeps no ledger
	h.u.views.after = manualAfter(h)
	h.u.start(false)
	a := h.u.views.act
	h.u.views.tabs.Select(h.u.views.actTab)
	h.until("engine", func() bool { return h.u.eng != nil })
	h.pump()
	if !strings.HasPrefix(a.summary.Text, "The engine does not keep a ledger") {
		t.Errorf("summary = %q", a.summary.Text)
	}
	if a.timer == nil {
		t.Error("a shown view must schedule its next read")
	}
	h.u.views.tabs.Select(h.u.views.live)
	if a.timer != nil {
		t.Error("a hidden view keeps reading")
	}
}

func TestActivityRefreshesEveryMinute(t *testing.T) {
	h, src := activityHarness(t)
	timers := recordTimers(h)
	showActivity(t, h, 1, src)
	next := timers.pending(activityRefresh)
	if next == nil {
		t.Fatal("no refresh scheduled a minute on")
	}
	next.f()
	h.until("the second read", func() bool { return len(src.asked()) == 2 })
	// Opening the window from the tray reads again too.
	h.u.showWindow()
	h.until("the read on showing", func() bool { return len(src.asked()) == 3 })
}

// TestActivityLedgerNotOpenYet: the app's own engine opens its ledger a moment after
// its first snapshot, so a read that finds it not open is tried again in 2 s, not a
// minute later, and "off" is shown only when the second read finds it off too.
func TestActivityLedgerNotOpenYet(t *testing.T) {
	h, src := activityHarness(t)
	pending := recordTimers(h).pending
	setErr := func(err error) {
		src.mu.Lock()
		src.err = err
		src.mu.Unlock()
	}
	setErr(ledger.ErrOff)
	v := h.u.views
	v.tabs.Select(v.actTab)
	h.until("a retry soon", func() bool { return pending(activityOffRetry) != nil })
	if strings.Contains(v.act.summary.Text, "off") || pending(activityRefresh) != nil {
		t.Fatalf("after the first read: summary %q, a minute's refresh pending %v", v.act.summary.Text, pending(activityRefresh) != nil)
	}
	setErr(nil)
	pending(activityOffRetry).f()
	h.until("the week read", func() bool { return len(src.asked()) == 2 && len(v.act.last.Hourly) > 0 })
	if !strings.Contains(v.act.summary.Text, "jobs ·") {
		t.Errorf("summary = %q", v.act.summary.Text)
	}
	// A ledger that is really off is said so at the next read (once per engine).
	setErr(ledger.ErrOff)
	pending(activityRefresh).f()
	h.until("off shown", func() bool { return strings.Contains(v.act.summary.Text, "ledger is off") })
	if pending(activityOffRetry) != nil || len(src.asked()) != 3 {
		t.Errorf("retried again: %d reads", len(src.asked()))
	}
}

func TestChartTicksAndFormats(t *testing.T) {
	for _, c := range []struct {
		max  float64
		want []float64
	}{
		{0, []float64{0, 1}},
		{7, []float64{0, 2, 4, 6, 8}},
		{1234, []float64{0, 500, 1000, 1500}},
		{0.9, []float64{0, 0.25, 0.5, 0.75, 1}},
	} {
		if got := niceTicks(c.max, 4); !slices.Equal(got, c.want) {
			t.Errorf("niceTicks(%v) = %v, want %v", c.max, got, c.want)
		}
	}
	for v, want := range map[float64]string{950: "950", 12345: "12.3k", 4.5e6: "4.5M", 2.5: "2.5", 1500: "1.5k"} {
		if got := count(v); got != want {
			t.Errorf("count(%v) = %q, want %q", v, got, want)
		}
	}
	if dollars(0.004) != "$0.004" || dollars(12.3) != "$12.30" || millis(850) != "850 ms" || millis(1250) != "1.25 s" {
		t.Errorf("formats: %s %s %s %s", dollars(0.004), dollars(12.3), millis(850), millis(1250))
	}
}
