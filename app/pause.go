package app

import (
	"time"

	"github.com/pin-client/pin-client/app/present"
)

// pauseAction is what the tray's owner controls do (present.ItemPauseHour,
// ItemPauseTomorrow, ItemResume) on whichever engine is shown; nil for other items.
// The engine (the app's own Host, or an attached one over the control API) keeps the
// pause, its end and the schedule, so they hold across config reloads.
func (u *UI) pauseAction(item present.Item) func() {
	switch item {
	case present.ItemPauseHour, present.ItemPauseTomorrow:
		return func() { u.pause(present.PauseEnd(item, time.Now())) }
	case present.ItemResume:
		return u.resume
	}
	return nil
}

func (u *UI) pause(until time.Time) {
	if a := u.remote; a != nil {
		go a.r.Pause(until)
		return
	}
	if u.eng != nil {
		u.eng.eng.Pause(until)
	}
}

func (u *UI) resume() {
	if a := u.remote; a != nil {
		go a.r.Resume()
		return
	}
	if u.eng != nil {
		u.eng.eng.Resume()
	}
}
