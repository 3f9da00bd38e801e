package present

import (
	"slices"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/owner"
)

func TestMenuPause(t *testing.T) {
	ready := MenuEnv{Configured: true, AutostartSupported: true, ServiceSupported: true}
	tail := []string{"Open dashboard +", "-", "Start at login +", "Install background service… +", "-", "Quit +"}
	with := func(head ...string) []string { return append(head, tail...) }
	local := now.Local()
	morning := owner.Tomorrow(local)

	for _, c := range []struct {
		name string
		s    core.Status
		env  MenuEnv
		want []string
	}{
		{"online offers the pauses", core.Status{State: core.StateOnline}, ready,
			with("PIN Client: Online", "-", "Go offline +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"reconnecting offers them too", core.Status{State: core.StateReconnecting}, ready,
			with("PIN Client: Reconnecting…", "-", "Go offline +", "Reconnect now +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"offline by choice: nothing to pause", core.Status{State: core.StateOffline}, ready,
			with("PIN Client: Offline", "-", "Go online +")},
		{"pausing while jobs finish", core.Status{State: core.StateDraining, InFlight: 2, Paused: true, PauseReason: core.ReasonPausedByYou}, ready,
			with("PIN Client: Pausing…", "-", "Going offline…", "Resume +")},
		{"paused by the schedule", core.Status{State: core.StateOffline, Paused: true, PauseReason: owner.ReasonSchedule, PausedUntil: morning}, ready,
			with("PIN Client: Paused until "+owner.When(morning, local)+" — outside your serving hours", "-", "Stay offline +", "Resume +")},
		{"paused until resumed", core.Status{State: core.StateOffline, Paused: true, PauseReason: core.ReasonPausedByYou}, ready,
			with("PIN Client: Paused until you resume — paused by you", "-", "Stay offline +", "Resume +")},
		{"not before setup", core.Status{State: core.StateOnline}, MenuEnv{AutostartSupported: true},
			[]string{"PIN Client: Online", "-", "Go online (finish setup first)", "Open setup +", "-", "Start at login +", "Install background service…", "-", "Quit +"}},
	} {
		if got := shown(Menu(c.s, c.env, now)); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestSummarizePaused(t *testing.T) {
	local := now.Local()
	at8 := owner.NextClock(local, 8*60)
	sum := Summarize(core.Status{State: core.StateOffline, Paused: true, PauseReason: owner.ReasonSchedule, PausedUntil: at8}, now)
	if sum.Title != "Paused until "+owner.When(at8, local) || sum.Reason != "outside your serving hours" || sum.Icon != IconOffline {
		t.Errorf("schedule pause: %+v", sum)
	}
	sum = Summarize(core.Status{State: core.StateOffline, Paused: true, PauseReason: owner.ReasonBusy + " (GPU 90% ≥ 50% for 2m0s)"}, now)
	if sum.Title != "Paused" || sum.Reason != "this machine is busy with other work (GPU 90% ≥ 50% for 2m0s)" {
		t.Errorf("busy pause: %+v", sum)
	}
}

func TestPauseEnd(t *testing.T) {
	if got := PauseEnd(ItemPauseHour, now); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("1 hour: %v", got)
	}
	if got := PauseEnd(ItemPauseTomorrow, now); !got.Equal(owner.Tomorrow(now)) {
		t.Errorf("tomorrow: %v", got)
	}
	if got := PauseEnd(ItemResume, now); !got.IsZero() {
		t.Errorf("resume: %v", got)
	}
}
