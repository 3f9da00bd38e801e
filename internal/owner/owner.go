// Package owner decides when the machine's owner has it back: a pause asked for by hand
// (tray, CLI, control API), the weekly serving schedule ("schedule") and the opt-in
// "pause while this machine is busy" ("pauseWhenBusy"). It is pure: Policy.Decide takes
// the time, the busy detector takes samples, and Runner (runner.go) drives both from an
// injected clock and injected samplers and applies the decision to a Target (the engine).
package owner

import (
	"fmt"
	"time"

	"github.com/pin-client/pin-client/internal/config"
)

// Reasons shown in the status, the tray and the dashboard.
const (
	ReasonManual   = "paused by you"
	ReasonSchedule = "outside your serving hours"
	ReasonBusy     = "this machine is busy with other work"
)

// TomorrowHour is the local hour "until tomorrow" resumes at.
const TomorrowHour = 8

// Tomorrow is when a pause "until tomorrow" ends: the next local 08:00 after now. At
// 02:00 that is 08:00 the same morning (the owner means "until the morning"), at 23:00
// or 09:00 it is 08:00 the next day.
func Tomorrow(now time.Time) time.Time { return NextClock(now, TomorrowHour*60) }

// NextClock is the first local time after now whose time of day is min minutes after
// midnight. It steps by calendar days, so it stays right across daylight-saving changes.
func NextClock(now time.Time, min int) time.Time {
	y, mo, d := now.Date()
	t := time.Date(y, mo, d, min/60, min%60, 0, 0, now.Location())
	if !t.After(now) {
		t = time.Date(y, mo, d+1, min/60, min%60, 0, 0, now.Location())
	}
	return t
}

// Decision is whether the engine should be paused now, why, and until when (zero: until
// resumed by hand, or until the machine is idle again).
type Decision struct {
	Paused bool
	Reason string
	Until  time.Time
}

// Schedule is config.Schedule parsed: serving spans that start on chosen weekdays at
// From and last until To (the next day when To is not after From).
type Schedule struct {
	days     [7]bool
	from, to int // minutes after local midnight
}

// NewSchedule parses a validated config schedule; nil → nil (no schedule).
func NewSchedule(c *config.Schedule) (*Schedule, error) {
	if c == nil {
		return nil, nil
	}
	from, err := config.ParseClock(c.From)
	if err != nil {
		return nil, fmt.Errorf("schedule.from: %w", err)
	}
	to, err := config.ParseClock(c.To)
	if err != nil {
		return nil, fmt.Errorf("schedule.to: %w", err)
	}
	if from == to {
		return nil, fmt.Errorf("schedule.to: equals from (%s)", c.From)
	}
	s := &Schedule{from: from, to: to}
	if len(c.Days) == 0 {
		s.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range c.Days {
		i := config.DayIndex(d)
		if i < 0 {
			return nil, fmt.Errorf("schedule.days: %q is not a day; use mon … sun", d)
		}
		s.days[i] = true
	}
	return s, nil
}

// span returns the serving span that starts on the day of t (local), if that day is chosen.
func (s *Schedule) span(day time.Time) (start, end time.Time, ok bool) {
	y, mo, d := day.Date()
	if !s.days[time.Date(y, mo, d, 12, 0, 0, 0, day.Location()).Weekday()] {
		return time.Time{}, time.Time{}, false
	}
	start = time.Date(y, mo, d, s.from/60, s.from%60, 0, 0, day.Location())
	ed := d
	if s.to <= s.from {
		ed++ // overnight: ends the next morning
	}
	end = time.Date(y, mo, ed, s.to/60, s.to%60, 0, 0, day.Location())
	return start, end, true
}

// Serving reports whether t is inside a serving span and when that changes next (the
// end of the span when inside, the start of the next span when outside).
func (s *Schedule) Serving(t time.Time) (in bool, next time.Time) {
	y, mo, d := t.Date()
	// A span that started yesterday may still run (overnight); then today's and later.
	for off := -1; off <= 8; off++ {
		start, end, ok := s.span(time.Date(y, mo, d+off, 12, 0, 0, 0, t.Location()))
		if !ok {
			continue
		}
		if !t.Before(start) && t.Before(end) {
			// Spans of consecutive days may touch (mon 18–08, tue 08–…): follow them.
			for {
				ns, ne, ok := s.span(time.Date(end.Year(), end.Month(), end.Day(), 12, 0, 0, 0, t.Location()))
				if !ok || !ns.Equal(end) || !ne.After(end) {
					break
				}
				end = ne
			}
			return true, end
		}
		if start.After(t) {
			return false, start
		}
	}
	return false, time.Time{} // no day chosen (NewSchedule refuses none only via config)
}

// Policy combines the three rules. The zero value never pauses. Not safe for concurrent
// use (Runner serialises it).
type Policy struct {
	Schedule *Schedule // nil: serve at any hour
	Busy     *Busy     // nil: not watched

	manual      bool
	manualUntil time.Time
	// override is set by Resume: the schedule is ignored until this time (its next
	// change), so "Resume" at 22:00 outside the hours serves until the next span ends
	// or starts, not just until the next check.
	override time.Time
}

// Pause is a pause by hand until until (zero: until Resume).
func (p *Policy) Pause(until time.Time) {
	p.manual, p.manualUntil = true, until
}

// Resume ends a pause by hand, and overrides a schedule pause until the schedule's next
// change and a busy pause until the machine has been judged busy again for a full window.
func (p *Policy) Resume(now time.Time) {
	p.manual, p.manualUntil = false, time.Time{}
	if p.Schedule != nil {
		if in, next := p.Schedule.Serving(now); !in {
			p.override = next
		}
	}
	if p.Busy != nil {
		p.Busy.Reset()
	}
}

// Manual reports the pause by hand, if any.
func (p *Policy) Manual() (paused bool, until time.Time) { return p.manual, p.manualUntil }

// Decide is the decision at now: a pause by hand first, then the schedule, then busy.
// A pause by hand whose time has come is over.
func (p *Policy) Decide(now time.Time) Decision {
	if p.manual && !p.manualUntil.IsZero() && !now.Before(p.manualUntil) {
		p.manual, p.manualUntil = false, time.Time{}
	}
	if p.manual {
		return Decision{Paused: true, Reason: ReasonManual, Until: p.manualUntil}
	}
	if p.Schedule != nil {
		if !p.override.IsZero() && !now.Before(p.override) {
			p.override = time.Time{}
		}
		if in, next := p.Schedule.Serving(now); !in && p.override.IsZero() {
			return Decision{Paused: true, Reason: ReasonSchedule, Until: next}
		}
	}
	if p.Busy != nil && p.Busy.Busy() {
		return Decision{Paused: true, Reason: ReasonBusy + " (" + p.Busy.What() + ")"}
	}
	return Decision{}
}

// NextChange is the next time Decide may change without a new sample or a call to
// Pause/Resume; zero when none is known.
func (p *Policy) NextChange(now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if p.manual {
		earliest(p.manualUntil)
	}
	earliest(p.override)
	if p.Schedule != nil {
		_, n := p.Schedule.Serving(now)
		earliest(n)
	}
	return next
}

// Describe is a pause in one line for the operator, e.g. "Paused until 08:00 — outside
// your serving hours" (today or within a day: the time; later: the weekday too;
// no end: "until you resume", or nothing for a busy machine, which ends by itself).
// "" when not paused.
func Describe(paused bool, reason string, until, now time.Time) string {
	if !paused {
		return ""
	}
	s := "Paused"
	switch {
	case !until.IsZero():
		s += " until " + When(until, now)
	case reason == "" || reason == ReasonManual:
		s += " until you resume"
	}
	if reason != "" {
		s += " — " + reason
	}
	return s
}

// When is a time soon as an operator reads it: "08:00" within 24 hours, "Tue 08:00"
// within a week, "7 Jan 08:00" later. Local time of until's location.
func When(until, now time.Time) string {
	switch d := until.Sub(now); {
	case d < 24*time.Hour:
		return until.Format("15:04")
	case d < 6*24*time.Hour:
		return until.Format("Mon 15:04")
	}
	return until.Format("2 Jan 15:04")
}
