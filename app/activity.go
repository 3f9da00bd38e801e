package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/ledger"
)

// ActivitySource reads the engine's ledger for the Activity view: the jobs of the
// window of length span that ends now. The app's own engine (*host.Host) and the
// control client (an engine in another process) implement it. It may block (a query,
// a socket); the app calls it off the UI thread.
type ActivitySource interface {
	Activity(ctx context.Context, span time.Duration) (ledger.Activity, error)
}

// Both engines the app shows keep a ledger it can read.
var (
	_ ActivitySource = (*host.Host)(nil)
	_ ActivitySource = (*control.Client)(nil)
)

// EnvOpenTab, set to "activity", makes the app open on the Activity tab showing the
// last 7 days. It is a developer hook for scripts/screenshots.sh (docs/activity.png,
// drawn from a ledger seeded by scripts/seedledger) and is not meant for operators.
const EnvOpenTab = "PIN_CLIENT_OPEN_TAB"

// Timing of the Activity view.
const (
	activityRefresh = time.Minute      // re-read the ledger while the view is shown
	activityTimeout = 10 * time.Second // one read
	// An engine that has just started opens its ledger a moment after its first
	// snapshot: a read that finds it not open is tried again this soon, once.
	activityOffRetry = 2 * time.Second
)

// Why the Activity view has nothing to draw.
var (
	errNoEngine = errors.New("no engine is running, so there is no ledger to read: go online (or start the background service) to see your activity")
	errNoLedger = errors.New("the engine does not keep a ledger: update pin-clientd (or the background service) to a version with the job ledger")
)

// views are the parts of the main window next to the live dashboard: the Activity tab,
// the Notifications tab, the throughput line on the dashboard and the notifier. UI
// thread.
type views struct {
	u                *UI
	tabs             *container.AppTabs
	live             *container.TabItem
	actTab, notesTab *container.TabItem
	act              *activityView
	notes            *notifier
	rate             *throughput
	// after runs f after d (time.AfterFunc); tests substitute manual timers.
	after func(d time.Duration, f func()) stopper
	// openWeek: EnvOpenTab is "activity"; the window opens on the week's Activity.
	openWeek bool
	key      string // the engine shown at the last snapshot (UI.engineKey)
}

func newViews(u *UI) *views {
	v := &views{u: u, after: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }}
	v.openWeek = os.Getenv(EnvOpenTab) == "activity"
	v.act = newActivityView(v)
	v.notes = newNotifier(v)
	v.rate = newThroughput(v)
	v.live = container.NewTabItemWithIcon("Dashboard", theme.HomeIcon(), u.dash.content)
	v.actTab = container.NewTabItemWithIcon("Activity", theme.HistoryIcon(), v.act.content)
	v.notesTab = container.NewTabItemWithIcon("Notifications", theme.MailComposeIcon(), v.notes.content)
	v.tabs = container.NewAppTabs(v.live, v.actTab, v.notesTab)
	v.tabs.OnSelected = func(*container.TabItem) { v.act.shown(v.tabs.Selected() == v.actTab) }
	// The throughput line sits in the dashboard's header.
	u.dash.rateSlot.Add(v.rate.chart)
	if v.openWeek {
		v.tabs.Select(v.actTab)
	}
	return v
}

// content is what the window shows in place of the bare dashboard.
func (v *views) content() fyne.CanvasObject { return v.tabs }

// observe sees every snapshot the app applies: the notifier decides what to tell,
// the throughput line takes a sample, and a change of the engine shown re-reads the
// Activity view. UI thread.
func (v *views) observe(s core.Status) {
	key := v.u.engineKey()
	changed := key != v.key
	v.key = key
	now := v.u.opts.Now()
	v.notes.observe(s, key, now)
	v.rate.add(s, key, now)
	if changed {
		v.act.offRetried = false
		v.act.refresh()
	}
}

// activitySource is THE place where the app picks where the Activity view reads from:
// the engine shown when it implements ActivitySource (the app's own *host.Host, or the
// control client of an engine in another process), else nothing (with why). UI thread.
func (v *views) activitySource() (ActivitySource, error) {
	u := v.u
	var eng any
	switch {
	case u.remote != nil:
		eng = u.remote.r
	case u.eng != nil:
		eng = u.eng.eng
	default:
		return nil, errNoEngine
	}
	if s, ok := eng.(ActivitySource); ok {
		return s, nil
	}
	return nil, errNoLedger
}

// engineKey names the engine shown: a new key is a new engine (its counters and state
// start afresh). "" when none runs. UI thread.
func (u *UI) engineKey() string {
	if a := u.remote; a != nil {
		return fmt.Sprintf("%s/%s/%d/%d", a.info.Kind, a.info.Scope, a.info.PID, a.info.Started.UnixNano())
	}
	if u.eng != nil {
		return fmt.Sprintf("app/%p", u.eng)
	}
	return ""
}

// ---- the Activity view ----

// activityView is the Activity tab: a 24 h / 7 days choice, a summary line and six
// charts, re-read every minute while shown.
type activityView struct {
	v                                             *views
	span                                          time.Duration
	choice                                        *widget.RadioGroup
	summary                                       *widget.Label
	tokens, jobs, earnings, outcomes, speed, ttft *chart
	content                                       fyne.CanvasObject

	visible bool
	timer   stopper
	seq     int // the read whose answer is shown; older answers are dropped
	last    ledger.Activity
	lastErr error
	loaded  bool // an answer (or error) is shown
	// offRetried: since the engine shown changed, a read found its ledger not open and
	// was tried again soon (activityOffRetry); the next such answer is shown.
	offRetried bool
}

const (
	choice24h = "Last 24 hours"
	choice7d  = "Last 7 days"
)

func newActivityView(v *views) *activityView {
	a := &activityView{v: v, span: 24 * time.Hour}
	a.choice = widget.NewRadioGroup([]string{choice24h, choice7d}, func(s string) {
		span := 24 * time.Hour
		if s == choice7d {
			span = 7 * 24 * time.Hour
		}
		if span != a.span {
			a.span = span
			a.refresh()
		}
	})
	a.choice.Horizontal = true
	a.choice.Required = true
	a.choice.Selected = choice24h
	if v.openWeek {
		a.span, a.choice.Selected = 7*24*time.Hour, choice7d
	}
	a.summary = widget.NewLabel("")
	a.summary.Wrapping = fyne.TextWrapWord
	a.tokens = newChart("Tokens per hour", chartBars, count)
	a.jobs = newChart("Jobs per hour", chartBars, count)
	a.earnings = newChart("Estimated earnings per day", chartBars, dollars)
	a.earnings.daily = true
	a.outcomes = newChart("Jobs by outcome", chartRows, count)
	a.speed = newChart("Tokens/s per node", chartLines, count)
	a.ttft = newChart("Time to first token per node", chartLines, millis)
	a.tokens.series = []series{{name: "tokens", color: theme.ColorNamePrimary}}
	a.jobs.series = []series{{name: "jobs", color: colorPurple}}
	a.earnings.series = []series{{name: "earnings", color: colorGreen}}
	heading := widget.NewLabelWithStyle("Activity", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	heading.SizeName = theme.SizeNameSubHeadingText
	grid := container.NewGridWithColumns(2, a.tokens, a.jobs, a.earnings, a.outcomes, a.speed, a.ttft)
	a.content = container.NewBorder(
		container.NewVBox(container.NewBorder(nil, nil, heading, a.choice), a.summary, widget.NewSeparator()),
		nil, nil, nil,
		container.NewVScroll(container.NewPadded(grid)),
	)
	a.show(ledger.Activity{}, nil)
	return a
}

// shown: the tab was selected (or left). A shown view is read at once and every
// minute. UI thread.
func (a *activityView) shown(on bool) {
	if on == a.visible {
		return
	}
	a.visible = on
	if !on {
		if a.timer != nil {
			a.timer.Stop()
			a.timer = nil
		}
		return
	}
	a.refresh()
}

// refresh reads the ledger off the UI thread and shows the answer, then schedules the
// next read while the view is shown. UI thread.
func (a *activityView) refresh() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if !a.visible {
		return
	}
	u := a.v.u
	a.seq++
	seq, span := a.seq, a.span
	a.timer = a.v.after(activityRefresh, func() { u.do(a.refresh) })
	src, err := a.v.activitySource()
	if err != nil {
		a.show(ledger.Activity{}, err)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), activityTimeout)
		defer cancel()
		act, err := src.Activity(ctx, span)
		u.do(func() {
			if seq != a.seq {
				return
			}
			if errors.Is(err, ledger.ErrOff) && !a.offRetried && a.timer != nil {
				// Not open yet, most likely (the engine has just started): look again
				// soon rather than say it is off for a minute.
				a.offRetried = true
				a.timer.Stop()
				a.timer = a.v.after(activityOffRetry, func() { u.do(a.refresh) })
				return
			}
			a.show(act, err)
		})
	}()
}

// show draws act (or says why there is nothing). UI thread.
func (a *activityView) show(act ledger.Activity, err error) {
	a.last, a.lastErr, a.loaded = act, err, true
	var jobs int
	var tokens int64
	var earned float64
	for _, b := range act.Hourly {
		jobs += b.Jobs
		tokens += b.Tokens
		earned += b.Earnings
	}
	from, to := act.From, act.To
	if n := len(act.Hourly); n > 0 { // the hours drawn
		from, to = act.Hourly[0].Start, act.Hourly[n-1].Start.Add(time.Hour)
	}
	if to.IsZero() {
		to = a.v.u.opts.Now().Truncate(time.Hour).Add(time.Hour)
	}
	if from.IsZero() || !from.Before(to) {
		from = to.Add(-a.span)
	}
	period := "in the last 24 hours"
	if a.span > 24*time.Hour {
		period = "in the last 7 days"
	}
	switch {
	case err != nil:
		a.summary.SetText(sentence(err.Error()))
	case jobs == 0:
		a.summary.SetText("No activity recorded yet " + period + ": jobs appear here as your nodes serve them.")
	default:
		ok := act.Outcomes[ledger.OutcomeOK]
		line := fmt.Sprintf("%s jobs · %s tokens · est. %s earned %s", count(float64(jobs)), count(float64(tokens)), dollars(earned), period)
		if total := sumOutcomes(act.Outcomes); total > 0 {
			line += " · " + percent(float64(ok)/float64(total)) + " completed"
		}
		a.summary.SetText(line)
	}

	hourly := func(c *chart, val func(ledger.Bucket) float64, total string) {
		c.from, c.to, c.step = from, to, time.Hour
		pts := make([]point, 0, len(act.Hourly))
		for _, b := range act.Hourly {
			pts = append(pts, point{b.Start, val(b)})
		}
		c.series[0].pts = pts
		c.note = total
		c.Refresh()
	}
	hourly(a.tokens, func(b ledger.Bucket) float64 { return float64(b.Tokens) }, noteTotal(count(float64(tokens)), jobs))
	hourly(a.jobs, func(b ledger.Bucket) float64 { return float64(b.Jobs) }, noteTotal(count(float64(jobs)), jobs))

	// Earnings per day: the days the window touches.
	a.earnings.step = 24 * time.Hour
	a.earnings.series[0].pts = a.earnings.series[0].pts[:0]
	if len(act.Daily) > 0 {
		a.earnings.from = act.Daily[0].Start
		a.earnings.to = act.Daily[len(act.Daily)-1].Start.AddDate(0, 0, 1)
		for _, b := range act.Daily {
			a.earnings.series[0].pts = append(a.earnings.series[0].pts, point{b.Start, b.Earnings})
		}
	} else {
		a.earnings.from, a.earnings.to = startOfDay(from.In(time.Local)), startOfDay(to.In(time.Local)).AddDate(0, 0, 1)
	}
	// The bars are whole local days, so the first may reach back before the window:
	// the note sums the bars drawn, which is what the eye adds up.
	var daily float64
	for _, b := range act.Daily {
		daily += b.Earnings
	}
	a.earnings.note = noteTotal(dollars(daily), jobs)
	a.earnings.Refresh()

	a.outcomes.cats = a.outcomes.cats[:0]
	for _, o := range outcomeOrder(act.Outcomes) {
		a.outcomes.cats = append(a.outcomes.cats, category{label: outcomeLabel(o), value: float64(act.Outcomes[o]), color: outcomeColor(o)})
	}
	a.outcomes.note = noteTotal(count(float64(sumOutcomes(act.Outcomes))), jobs)
	a.outcomes.Refresh()

	aliases := make([]string, 0, len(act.Nodes))
	for n := range act.Nodes {
		aliases = append(aliases, n)
	}
	sort.Strings(aliases)
	perNode := func(c *chart, val func(ledger.NodePoint) float64) {
		c.from, c.to, c.step = from, to, time.Hour
		c.series = c.series[:0]
		for i, n := range aliases {
			s := series{name: n, color: nodeColors[i%len(nodeColors)]}
			for _, p := range act.Nodes[n] {
				if p.Jobs > 0 {
					s.pts = append(s.pts, point{p.Start, val(p)})
				}
			}
			c.series = append(c.series, s)
		}
		c.Refresh()
	}
	perNode(a.speed, func(p ledger.NodePoint) float64 { return p.TokensPerSec })
	perNode(a.ttft, func(p ledger.NodePoint) float64 { return float64(p.TTFT) / float64(time.Millisecond) })
	a.speed.note, a.ttft.note = "hourly mean", "hourly mean"
	if len(aliases) == 0 {
		a.speed.note, a.ttft.note = "", ""
	}
	a.speed.Refresh()
	a.ttft.Refresh()
}

// nodeColors tell the nodes apart in the per-node charts.
var nodeColors = []fyne.ThemeColorName{colorBlue, colorOrange, colorPurple, colorGreen, colorBrown, colorRed}

func noteTotal(v string, jobs int) string {
	if jobs == 0 {
		return ""
	}
	return v + " in total"
}

func sumOutcomes(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// outcomeOrder: ok first, then the known failures in a fixed order, then any other.
func outcomeOrder(m map[string]int) []string {
	known := []string{ledger.OutcomeOK, ledger.OutcomeBackendError, ledger.OutcomeTimeout, ledger.OutcomeBusy, ledger.OutcomeCancelled, ledger.OutcomeLinkLost}
	out := []string{ledger.OutcomeOK}
	for _, o := range known[1:] {
		if m[o] > 0 {
			out = append(out, o)
		}
	}
	var other []string
	for o := range m {
		if !slices.Contains(known, o) {
			other = append(other, o)
		}
	}
	sort.Strings(other)
	if len(m) == 0 {
		return nil
	}
	return append(out, other...)
}

func outcomeLabel(o string) string {
	switch o {
	case ledger.OutcomeOK:
		return "completed"
	case ledger.OutcomeBackendError:
		return "backend error"
	case ledger.OutcomeLinkLost:
		return "link lost"
	case ledger.OutcomeBusy:
		return "busy (turned away)"
	}
	return strings.ReplaceAll(o, "_", " ")
}

func outcomeColor(o string) fyne.ThemeColorName {
	switch o {
	case ledger.OutcomeOK:
		return theme.ColorNameSuccess
	case ledger.OutcomeBusy, ledger.OutcomeCancelled:
		return theme.ColorNameWarning
	}
	return theme.ColorNameError
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
