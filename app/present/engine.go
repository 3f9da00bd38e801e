package present

import (
	"strconv"
	"time"
)

// Engine kinds, as the control API names them (control.KindApp, KindService, KindDaemon).
const (
	KindApp     = "app"
	KindService = "service"
	KindDaemon  = "daemon"
)

// Engine identifies the engine the app shows: its own (KindApp), one running in another
// process that the app attached to, or none (the zero Engine).
type Engine struct {
	Kind    string    // KindApp, KindService or KindDaemon; "" when no engine runs
	Scope   string    // "user" or "system"; only a system service says so
	PID     int       // the engine's process; 0 when unknown
	Started time.Time // when its process started; zero when unknown
}

// Attached reports whether the engine runs in another process.
func (e Engine) Attached() bool { return e.Kind != "" && e.Kind != KindApp }

// Name is the engine in a few words, without PID or uptime: "this app",
// "background service", "system background service", "pin-clientd in a terminal",
// "none running".
func (e Engine) Name() string {
	switch e.Kind {
	case "":
		return "none running"
	case KindApp:
		return "this app"
	case KindService:
		if e.Scope == "system" {
			return "system background service"
		}
		return "background service"
	case KindDaemon:
		return "pin-clientd in a terminal"
	default:
		return "another engine (" + e.Kind + ")"
	}
}

// EngineLine says which engine the dashboard shows: "this app", or for an attached one
// its name, PID and uptime at now, e.g. "background service (PID 1234, up 2 h 5 min)".
func EngineLine(e Engine, now time.Time) string {
	name := e.Name()
	if !e.Attached() {
		return name
	}
	var parts []string
	if e.PID > 0 {
		parts = append(parts, "PID "+strconv.Itoa(e.PID))
	}
	if !e.Started.IsZero() {
		parts = append(parts, "up "+Uptime(now.Sub(e.Started)))
	}
	if len(parts) == 0 {
		return name
	}
	out := name + " ("
	for i, p := range parts {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return out + ")"
}

// Uptime is d in the largest two units an operator reads at a glance: "40 s", "3 min",
// "2 h 5 min", "3 d 4 h". Negative durations (a clock step) read as "0 s".
func Uptime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + " h"
		}
		return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return strconv.Itoa(days) + " d"
		}
		return strconv.Itoa(days) + " d " + strconv.Itoa(h) + " h"
	}
}

// NextUptimeChange is how long after now the uptime EngineLine shows for e changes, so
// the app re-renders then instead of polling; 0 when e shows no uptime.
func NextUptimeChange(e Engine, now time.Time) time.Duration {
	if !e.Attached() || e.Started.IsZero() {
		return 0
	}
	up := max(now.Sub(e.Started), 0)
	unit := time.Second
	switch {
	case up < time.Minute:
		unit = time.Second
	case up < 24*time.Hour:
		unit = time.Minute
	default:
		unit = time.Hour
	}
	return unit - up%unit
}
