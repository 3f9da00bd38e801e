package app

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"github.com/pin-client/pin-client/core"
)

// The dashboard's throughput line: tokens per second over the last minutes, from the
// status snapshots' token counter (Status.Tokens counts a job's tokens when it ends).
const (
	rateWindow = 10 * time.Minute
	rateStep   = 30 * time.Second
	// minRateSpan is the least time a rate is taken over: the step the first sample falls
	// in counts from that sample, once it has this much of it.
	minRateSpan = 10 * time.Second
)

// tokenSample is the engine's token counter at a time.
type tokenSample struct {
	t      time.Time
	tokens uint64
}

// throughput keeps the token counter's samples of the engine shown and draws their
// rate. UI thread.
type throughput struct {
	v       *views
	key     string // the engine the samples come from
	samples []tokenSample
	chart   *chart
	timer   stopper
}

func newThroughput(v *views) *throughput {
	c := newChart("Tokens/s, last 10 min", chartLines, count)
	c.compact = true
	c.minSize = fyne.NewSize(300, 84)
	c.empty = "No tokens served in the last 10 minutes"
	c.series = []series{{name: "tokens/s", color: theme.ColorNamePrimary}}
	return &throughput{v: v, chart: c}
}

// add takes snapshot s of engine key at now and redraws; a new engine (or a counter
// that went back) starts the line afresh. UI thread.
func (r *throughput) add(s core.Status, key string, now time.Time) {
	if key != r.key || len(r.samples) > 0 && s.Tokens < r.samples[len(r.samples)-1].tokens {
		r.key, r.samples = key, r.samples[:0]
	}
	if key != "" {
		r.samples = append(r.samples, tokenSample{now, s.Tokens})
	}
	r.draw(now)
}

// rates are the tokens per second of each rateStep of the rateWindow that ends at
// now (steps end at now, so the newest is never a partial one), oldest first; steps
// before the first sample are left out, and the one it falls in is measured from it
// (a dashboard that attaches to a busy engine must not draw its first step as 0).
func rates(samples []tokenSample, now time.Time) []point {
	if len(samples) == 0 {
		return nil
	}
	start := now.Add(-rateWindow)
	at := func(t time.Time) (uint64, bool) { // the counter at t: the last sample at or before t
		var v uint64
		ok := false
		for _, s := range samples {
			if s.t.After(t) {
				break
			}
			v, ok = s.tokens, true
		}
		return v, ok
	}
	var out []point
	for t := start; t.Before(now); t = t.Add(rateStep) {
		b, okB := at(t)
		e, okE := at(t.Add(rateStep))
		if !okE {
			continue
		}
		span := rateStep
		if !okB { // the step the first sample falls in: its rate since that sample
			b, span = samples[0].tokens, t.Add(rateStep).Sub(samples[0].t)
			if span < minRateSpan {
				continue
			}
		}
		out = append(out, point{t, float64(e-b) / span.Seconds()})
	}
	return out
}

// draw redraws the line for now and keeps it moving while samples are in the window.
// UI thread.
func (r *throughput) draw(now time.Time) {
	// Samples older than the window are not needed, except the newest of them (the
	// counter at the window's start).
	cut := now.Add(-rateWindow - rateStep)
	i := 0
	for i+1 < len(r.samples) && r.samples[i+1].t.Before(cut) {
		i++
	}
	r.samples = r.samples[i:]

	pts := rates(r.samples, now)
	c := r.chart
	c.from, c.to, c.step = now.Add(-rateWindow), now, rateStep
	c.series[0].pts = pts
	c.note = ""
	c.empty = "No tokens served in the last 10 minutes"
	if n := len(pts); n > 0 {
		c.note = fmt.Sprintf("now %s tok/s", count(pts[n-1].v))
	} else if len(r.samples) > 0 {
		c.empty = "Measuring tokens/s…" // less than minRateSpan since the first sample
	}
	c.Refresh()

	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if r.key != "" {
		u := r.v.u
		r.timer = r.v.after(rateStep, func() { u.do(func() { r.draw(u.opts.Now()) }) })
	}
}
