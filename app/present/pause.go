package present

import (
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/owner"
)

// Tray items of the owner controls (internal/owner, docs/owner-controls.md).
const (
	ItemPauseHour     Item = iota + 100 // Pause for 1 hour
	ItemPauseTomorrow                   // Pause until tomorrow (the next 08:00)
	ItemResume                          // Resume, while paused
)

// PauseEnd is when a pause chosen from the tray ends (zero: until resumed).
func PauseEnd(item Item, now time.Time) time.Time {
	switch item {
	case ItemPauseHour:
		return now.Add(time.Hour)
	case ItemPauseTomorrow:
		return owner.Tomorrow(now)
	}
	return time.Time{}
}

// pausedSummary is the headline while the owner has the machine back: "Paused until
// 08:00" with the reason ("outside your serving hours"); while the running jobs finish,
// "Pausing…". ok is false when not paused.
func pausedSummary(s core.Status, now time.Time) (Summary, bool) {
	if !s.Paused {
		return Summary{}, false
	}
	if s.State == core.StateDraining {
		return Summary{Title: "Pausing…", Reason: s.PauseReason + "; " + drainingReason(s.InFlight), Icon: IconOnline}, true
	}
	title := "Paused"
	switch {
	case !s.PausedUntil.IsZero():
		title += " until " + owner.When(s.PausedUntil.Local(), now.Local())
	case s.PauseReason == core.ReasonPausedByYou:
		title += " until you resume"
	}
	return Summary{Title: title, Reason: s.PauseReason, Icon: IconOffline}, true
}

// pauseItems are the tray's owner controls for s: Resume while paused, otherwise the two
// pauses while the engine serves or tries to. None before setup or while quitting.
func pauseItems(s core.Status, env MenuEnv) []MenuItem {
	switch {
	case !env.Configured || env.Quitting:
		return nil
	case s.Paused:
		return []MenuItem{{Item: ItemResume, Label: "Resume", Enabled: true}}
	case s.State == core.StateOffline || s.State == core.StateDraining:
		return nil
	}
	return []MenuItem{
		{Item: ItemPauseHour, Label: "Pause for 1 hour", Enabled: true},
		{Item: ItemPauseTomorrow, Label: "Pause until tomorrow", Enabled: true},
	}
}

// pausedTitle is the tray's headline: while paused it says why too ("Paused until 08:00 —
// outside your serving hours"), as the tray has no second line; otherwise the title.
func pausedTitle(s core.Status, sum Summary) string {
	if s.Paused && s.State != core.StateDraining && sum.Reason != "" {
		return sum.Title + " — " + sum.Reason
	}
	return sum.Title
}
