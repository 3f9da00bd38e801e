package app

import (
	"testing"

	"github.com/pin-client/pin-client/core"
)

// TestTrayTooltip: the tray icon says what the app is and its state, updated when the
// state changes and not re-sent when it did not.
func TestTrayTooltip(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(true)
	h.until("engine", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOffline })
	last := func() string {
		if len(h.tray.tooltips) == 0 {
			t.Fatal("no tooltip set")
		}
		return h.tray.tooltips[len(h.tray.tooltips)-1]
	}
	if got := last(); got != "PIN Client: Offline" {
		t.Errorf("tooltip offline = %q", got)
	}
	n := len(h.tray.tooltips)
	h.u.render()
	if len(h.tray.tooltips) != n {
		t.Errorf("an unchanged tooltip was set again")
	}
	h.tapMenu("Go online")
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	if got := last(); got != "PIN Client: Online" {
		t.Errorf("tooltip online = %q", got)
	}
}
