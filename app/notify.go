package app

import (
	"maps"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/core"
)

// noticeKind is a kind of desktop notification; each can be turned off.
type noticeKind int

const (
	noticeAuth    noticeKind = iota // the gateway rejected the credentials
	noticeBackend                   // a node's LLM server unreachable for over backendGrace
	noticeTier                      // a node's interview tier changed
	noticePause                     // serving paused or resumed
)

// backendGrace is how long a node's backend must stay unreachable before the operator
// is told (a restart of the LLM server is not worth a notification).
const backendGrace = time.Minute

// noticeKinds are the kinds in the order the Notifications tab lists them, with their
// preference keys and labels.
var noticeKinds = []struct {
	kind  noticeKind
	pref  string
	label string
}{
	{noticeAuth, "notify.authRejected", "The gateway rejects your credentials"},
	{noticeBackend, "notify.backendDown", "A node's LLM server is unreachable for over a minute"},
	{noticeTier, "notify.tierChanged", "A node's interview tier changes"},
	{noticePause, "notify.pause", "Serving is paused or resumes"},
}

// notice is one desktop notification.
type notice struct {
	kind  noticeKind
	title string
	body  string
}

// watch is what decide remembers between snapshots. The zero watch has seen nothing.
type watch struct {
	seen     bool
	engine   string      // the engine the snapshots come from (UI.engineKey)
	prev     core.Status // the last snapshot
	authTold bool        // the current credentials rejection was told
	// downSince: when each node's backend (by alias) was first seen unreachable;
	// downTold: that outage was told (or was there when the app found the engine).
	downSince map[string]time.Time
	downTold  map[string]bool
}

// decide is what to tell the operator when the engine shown (engine, "" for none)
// moves from w.prev to cur at now: one notice per transition, never for the state the
// app finds when it starts or attaches to an engine (the first snapshot of an engine is
// the baseline). It is pure: w is not modified, and the returned watch is passed to the
// next call. recheck, when not zero, is when decide must be called again with the same
// snapshot (a backend outage reaches backendGrace).
func decide(w watch, cur core.Status, engine string, now time.Time) (next watch, out []notice, recheck time.Time) {
	next = watch{seen: true, engine: engine, prev: cur, authTold: w.authTold,
		downSince: maps.Clone(w.downSince), downTold: maps.Clone(w.downTold)}
	if next.downSince == nil {
		next.downSince, next.downTold = map[string]time.Time{}, map[string]bool{}
	}
	baseline := !w.seen || engine != w.engine || engine == ""
	if baseline {
		next.authTold = cur.State == core.StateAuthRejected
		clear(next.downSince)
		clear(next.downTold)
		for _, n := range cur.Nodes {
			if unreachable(cur, n) {
				next.downSince[n.Alias], next.downTold[n.Alias] = now, true
			}
		}
		return next, nil, time.Time{}
	}
	prev := w.prev

	// Credentials: once per rejection, until the engine is online again.
	switch cur.State {
	case core.StateAuthRejected:
		if !next.authTold {
			next.authTold = true
			body := cur.LastError
			if body == "" {
				body = "The gateway refused your client ID or API secret."
			}
			out = append(out, notice{noticeAuth, "PIN Client: credentials rejected", sentence(body) + " Open Settings to fix them."})
		}
	case core.StateOnline:
		next.authTold = false
	}

	// Backends: once per outage that lasts backendGrace.
	present := map[string]bool{}
	for _, n := range cur.Nodes {
		present[n.Alias] = true
		if !unreachable(cur, n) {
			delete(next.downSince, n.Alias)
			delete(next.downTold, n.Alias)
			continue
		}
		since, ok := next.downSince[n.Alias]
		if !ok {
			since = now
			next.downSince[n.Alias] = now
		}
		if next.downTold[n.Alias] {
			continue
		}
		if due := since.Add(backendGrace); now.Before(due) {
			if recheck.IsZero() || due.Before(recheck) {
				recheck = due
			}
			continue
		}
		next.downTold[n.Alias] = true
		body := n.Alias + " cannot reach its LLM server at " + n.BackendURL + " for over a minute"
		if n.BackendError != "" {
			body += ": " + n.BackendError
		}
		out = append(out, notice{noticeBackend, "PIN Client: " + n.Alias + " is not serving", sentence(body)})
	}
	for alias := range next.downSince {
		if !present[alias] {
			delete(next.downSince, alias)
			delete(next.downTold, alias)
		}
	}

	// Interview tiers: a node (by alias) whose tier changed to a known one.
	for _, n := range cur.Nodes {
		if n.Tier == "" {
			continue
		}
		for _, p := range prev.Nodes {
			if p.Alias != n.Alias || p.Tier == n.Tier {
				continue
			}
			title := "PIN Client: " + n.Alias + " is now tier " + n.Tier
			body := "The gateway's interview placed " + n.Alias + " in tier " + n.Tier
			if p.Tier != "" {
				body += " (it was " + p.Tier + ")"
			}
			if n.Tier == "failed" {
				title = "PIN Client: " + n.Alias + " failed its interview"
				body = n.Alias + " failed the gateway's interview"
			}
			if n.InterviewNote != "" {
				body += ": " + n.InterviewNote
			}
			out = append(out, notice{noticeTier, title, sentence(body)})
		}
	}

	// Pause and resume.
	switch {
	case cur.Paused && !prev.Paused:
		body := "Your nodes take no new jobs"
		if cur.PauseReason != "" {
			body += " (" + cur.PauseReason + ")"
		}
		if !cur.PausedUntil.IsZero() {
			body += "; serving resumes " + when(cur.PausedUntil, now)
		}
		out = append(out, notice{noticePause, "PIN Client: paused", sentence(body)})
	case !cur.Paused && prev.Paused:
		out = append(out, notice{noticePause, "PIN Client: resumed", "Your nodes take jobs again."})
	}
	return next, out, recheck
}

// unreachable: the engine runs and its last discovery of node n's backend failed.
func unreachable(s core.Status, n core.NodeStatus) bool {
	return s.State != core.StateOffline && !n.BackendOK && n.BackendError != ""
}

// when is t as a local time, with the day when it is not today: "at 15:00",
// "tomorrow at 08:00", "on Mon 9 at 08:00".
func when(t, now time.Time) string {
	t, now = t.In(time.Local), now.In(time.Local)
	d := startOfDay(t).Sub(startOfDay(now))
	switch {
	case d <= 0:
		return "at " + t.Format("15:04")
	case d <= 24*time.Hour+time.Hour: // a day (DST may add an hour)
		return "tomorrow at " + t.Format("15:04")
	default:
		return "on " + t.Format("Mon 2 Jan") + " at " + t.Format("15:04")
	}
}

// ---- the notifier ----

// notifier sends the notices decide finds, as Fyne desktop notifications, for the
// kinds the operator left on; its content is the Notifications tab. UI thread.
type notifier struct {
	v       *views
	w       watch
	timer   stopper
	checks  map[noticeKind]*widget.Check
	content fyne.CanvasObject
	// send shows a notification (fyne.App.SendNotification); tests record instead.
	send func(*fyne.Notification)
}

func newNotifier(v *views) *notifier {
	n := &notifier{v: v, checks: map[noticeKind]*widget.Check{}, send: v.u.fa.SendNotification}
	prefs := v.u.fa.Preferences()
	box := container.NewVBox()
	heading := widget.NewLabelWithStyle("Desktop notifications", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	intro := widget.NewLabel("PIN Client tells you when something needs you, once each time it happens " +
		"(not for what it finds when it starts). Turn off what you do not want to hear about:")
	intro.Wrapping = fyne.TextWrapWord
	box.Add(heading)
	box.Add(intro)
	for _, k := range noticeKinds {
		c := widget.NewCheck(k.label, func(on bool) { prefs.SetBool(k.pref, on) })
		c.Checked = prefs.BoolWithFallback(k.pref, true)
		n.checks[k.kind] = c
		box.Add(c)
	}
	n.content = container.NewPadded(box)
	return n
}

// enabled reports whether the operator wants notices of kind k.
func (n *notifier) enabled(k noticeKind) bool {
	for _, nk := range noticeKinds {
		if nk.kind == k {
			return n.v.u.fa.Preferences().BoolWithFallback(nk.pref, true)
		}
	}
	return true
}

// observe decides on snapshot s of engine key at now and sends what is due; when an
// outage may become due without a new snapshot, it looks again then. UI thread.
func (n *notifier) observe(s core.Status, key string, now time.Time) {
	next, out, recheck := decide(n.w, s, key, now)
	n.w = next
	for _, no := range out {
		n.v.u.log.Info("notification", "title", no.title, "text", no.body, "sent", n.enabled(no.kind))
		if n.enabled(no.kind) {
			n.send(fyne.NewNotification(no.title, no.body))
		}
	}
	if n.timer != nil {
		n.timer.Stop()
		n.timer = nil
	}
	if !recheck.IsZero() {
		u := n.v.u
		n.timer = n.v.after(recheck.Sub(now), func() {
			u.do(func() {
				if n.w.seen {
					n.observe(n.w.prev, n.w.engine, u.opts.Now())
				}
			})
		})
	}
}
