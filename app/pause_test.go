package app

import (
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// TestPauseFromTrayResumeFromDashboard: "Pause for 1 hour" in the tray pauses the engine
// shown; the dashboard then says why and until when, and offers Resume as its main
// button; tapping it ends the pause.
func TestPauseFromTrayResumeFromDashboard(t *testing.T) {
	h := newConfigured(t, true)
	h.u.start(true)
	h.until("online", func() bool { return h.u.last.State.String() == "online" })
	d := h.u.dash
	if d.resume.Visible() {
		t.Fatal("Resume shown while serving")
	}

	h.tapMenu("Pause for 1 hour")
	h.until("paused", func() bool { return h.u.last.Paused })
	h.until("dashboard says paused", func() bool { return d.resume.Visible() })
	if d.title.Text == "" || !d.reason.Visible() || d.reason.Text == "" {
		t.Errorf("paused dashboard: title %q reason %q (visible %v)", d.title.Text, d.reason.Text, d.reason.Visible())
	}
	if d.resume.Importance != widget.HighImportance || d.toggle.Importance == widget.HighImportance {
		t.Errorf("while paused Resume must be the main button: resume %v toggle %v", d.resume.Importance, d.toggle.Importance)
	}
	if it := h.menuItem("Resume"); it == nil || it.Disabled {
		t.Error("the tray offers no Resume while paused")
	}

	test.Tap(d.resume)
	h.until("resumed", func() bool { return !h.u.last.Paused })
	h.until("Resume hidden", func() bool { return !d.resume.Visible() })
	if d.toggle.Importance != widget.HighImportance {
		t.Errorf("after resume the toggle is the main button again: %v", d.toggle.Importance)
	}
}
