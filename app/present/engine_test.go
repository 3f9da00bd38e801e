package present

import (
	"testing"
	"time"
)

func TestEngineLine(t *testing.T) {
	started := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		e    Engine
		want string
	}{
		{Engine{}, "none running"},
		{Engine{Kind: KindApp}, "this app"},
		{Engine{Kind: KindApp, PID: 77, Started: started(time.Hour)}, "this app"},
		{Engine{Kind: KindService, Scope: "user", PID: 1234, Started: started(2*time.Hour + 5*time.Minute + 30*time.Second)},
			"background service (PID 1234, up 2 h 5 min)"},
		{Engine{Kind: KindService, Scope: "system", PID: 88, Started: started(3*24*time.Hour + 4*time.Hour)},
			"system background service (PID 88, up 3 d 4 h)"},
		{Engine{Kind: KindDaemon, PID: 1234, Started: started(3*time.Minute + 59*time.Second)},
			"pin-clientd in a terminal (PID 1234, up 3 min)"},
		{Engine{Kind: KindDaemon, PID: 9, Started: started(40 * time.Second)}, "pin-clientd in a terminal (PID 9, up 40 s)"},
		{Engine{Kind: KindDaemon}, "pin-clientd in a terminal"},
		{Engine{Kind: KindService, Started: started(2 * time.Hour)}, "background service (up 2 h)"},
		{Engine{Kind: KindDaemon, PID: 5, Started: now.Add(time.Minute)}, "pin-clientd in a terminal (PID 5, up 0 s)"},
		{Engine{Kind: "robot", PID: 5}, "another engine (robot) (PID 5)"},
	}
	for _, tt := range tests {
		if got := EngineLine(tt.e, now); got != tt.want {
			t.Errorf("EngineLine(%+v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestNextUptimeChange(t *testing.T) {
	tests := []struct {
		up   time.Duration
		want time.Duration
	}{
		{10*time.Second + 300*time.Millisecond, 700 * time.Millisecond},
		{3*time.Minute + 20*time.Second, 40 * time.Second},
		{2*time.Hour + 59*time.Minute + 59*time.Second, time.Second},
		{25*time.Hour + 30*time.Minute, 30 * time.Minute},
	}
	for _, tt := range tests {
		e := Engine{Kind: KindService, Started: now.Add(-tt.up)}
		if got := NextUptimeChange(e, now); got != tt.want {
			t.Errorf("up %v: next change in %v, want %v", tt.up, got, tt.want)
		}
		// At that moment the line really changes, and not a moment before.
		before, at := EngineLine(e, now.Add(tt.want-time.Millisecond)), EngineLine(e, now.Add(tt.want))
		if before != EngineLine(e, now) || at == before {
			t.Errorf("up %v: line %q → %q → %q", tt.up, EngineLine(e, now), before, at)
		}
	}
	if got := NextUptimeChange(Engine{}, now); got != 0 {
		t.Errorf("own engine: %v", got)
	}
}
