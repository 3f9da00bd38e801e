package present

import (
	"time"

	"github.com/pin-client/pin-client/core"
)

// Item identifies a tray menu entry; the app maps each to its action.
type Item int

const (
	ItemSeparator     Item = iota
	ItemStatus             // the state in words; never enabled
	ItemToggle             // Go online / Go offline
	ItemReconnect          // Reconnect now, only while waiting to retry
	ItemDashboard          // Open dashboard (or setup before the first run)
	ItemAutostart          // Start at login, a checkbox
	ItemService            // Install background service…
	ItemRemoveService      // Remove background service…, instead of Install once one is installed
	ItemQuit
)

// MenuItem is one tray menu entry. It is comparable, so a whole menu can be compared with
// slices.Equal to skip rebuilding an unchanged tray.
type MenuItem struct {
	Item    Item
	Label   string
	Enabled bool
	Checked bool
}

// MenuEnv is what the menu depends on besides the engine's status.
type MenuEnv struct {
	Configured         bool // setup has been saved (config and secret exist)
	Autostart          bool // start at login is on
	AutostartSupported bool // this OS has a start-at-login mechanism the app can manage
	ServiceSupported   bool // the background service can be installed from here
	ServiceInstalled   bool // the user's background service is installed (running or not)
	// Attached names the engine shown when it runs in another process (Engine.Name:
	// "background service", "pin-clientd in a terminal"); "" for the app's own engine.
	Attached string
	// Switching describes a hand-off in progress (installing or removing the service);
	// "" when none. While it runs the toggle and the service items are disabled.
	Switching string
	Quitting  bool // Quit was chosen; waiting for running jobs to finish
}

// Menu returns the tray menu for s, top to bottom. The app rebuilds the tray from it on
// each snapshot instead of mutating menu items.
func Menu(s core.Status, env MenuEnv, now time.Time) []MenuItem {
	sum := Summarize(s, now)
	status := "PIN Client: " + pausedTitle(s, sum)
	if env.Attached != "" {
		status += " (" + env.Attached + ")"
	}
	switch {
	case env.Quitting && env.Attached != "":
		status = "PIN Client: quitting; the " + env.Attached + " keeps running"
	case env.Quitting:
		status = "PIN Client: quitting, " + drainingReason(s.InFlight)
	case env.Switching != "":
		status = "PIN Client: " + env.Switching
	}
	items := []MenuItem{{Item: ItemStatus, Label: status}, {Item: ItemSeparator}}

	toggle := MenuItem{Item: ItemToggle, Label: "Go offline", Enabled: true}
	switch {
	case s.Paused && s.State == core.StateOffline:
		toggle = MenuItem{Item: ItemToggle, Label: "Stay offline", Enabled: true} // cancels the resume: offline after the pause
	case !env.Configured:
		toggle = MenuItem{Item: ItemToggle, Label: "Go online (finish setup first)"}
	case s.State == core.StateOffline:
		toggle = MenuItem{Item: ItemToggle, Label: "Go online", Enabled: true}
	case s.State == core.StateDraining:
		toggle = MenuItem{Item: ItemToggle, Label: "Going offline…"}
	}
	if env.Switching != "" {
		toggle.Enabled = false
	}
	items = append(items, toggle)
	switch s.State {
	case core.StateReconnecting, core.StateAuthRejected, core.StateInterviewFailed:
		// Not offered inside the gateway's retry window after a failed interview: the
		// engine ignores it there (a reconnect would only fail again).
		if s.State != core.StateInterviewFailed || !now.Before(s.RetryAt) {
			items = append(items, MenuItem{Item: ItemReconnect, Label: "Reconnect now", Enabled: true})
		}
	}
	items = append(items, pauseItems(s, env)...)
	dash := "Open dashboard"
	if !env.Configured {
		dash = "Open setup"
	}
	// Install hands the app's own engine over to a new service, so it is offered only
	// while the app runs the engine itself; Remove hands the service's work back.
	service := MenuItem{Item: ItemService, Label: "Install background service…",
		Enabled: env.ServiceSupported && env.Configured && env.Attached == "" && env.Switching == ""}
	if env.ServiceInstalled {
		service = MenuItem{Item: ItemRemoveService, Label: "Remove background service…",
			Enabled: env.ServiceSupported && env.Switching == ""}
	}
	items = append(items,
		MenuItem{Item: ItemDashboard, Label: dash, Enabled: true},
		MenuItem{Item: ItemSeparator},
		MenuItem{Item: ItemAutostart, Label: "Start at login", Enabled: env.AutostartSupported, Checked: env.Autostart},
		service,
		MenuItem{Item: ItemSeparator},
		MenuItem{Item: ItemQuit, Label: "Quit", Enabled: true},
	)
	if env.Quitting {
		for i := range items {
			if items[i].Item != ItemDashboard {
				items[i].Enabled = false
			}
		}
	}
	return items
}
