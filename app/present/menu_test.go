package present

import (
	"slices"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
)

// shown renders a menu as "label[flags]" strings: + enabled, x checked, - separator.
func shown(items []MenuItem) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.Item == ItemSeparator {
			out = append(out, "-")
			continue
		}
		s := it.Label
		if it.Enabled {
			s += " +"
		}
		if it.Checked {
			s += " x"
		}
		out = append(out, s)
	}
	return out
}

func TestMenu(t *testing.T) {
	ready := MenuEnv{Configured: true, AutostartSupported: true, ServiceSupported: true}
	tail := []string{"Open dashboard +", "-", "Start at login +", "Install background service… +", "-", "Quit +"}
	with := func(head ...string) []string { return append(head, tail...) }

	tests := []struct {
		name string
		s    core.Status
		env  MenuEnv
		want []string
	}{
		{"first run", core.Status{}, MenuEnv{AutostartSupported: true, ServiceSupported: true},
			[]string{"PIN Client: Offline", "-", "Go online (finish setup first)", "Open setup +", "-",
				"Start at login +", "Install background service…", "-", "Quit +"}},
		{"offline", core.Status{State: core.StateOffline}, ready,
			with("PIN Client: Offline", "-", "Go online +")},
		{"connecting", core.Status{State: core.StateConnecting}, ready,
			with("PIN Client: Connecting…", "-", "Go offline +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"online", core.Status{State: core.StateOnline}, ready,
			with("PIN Client: Online", "-", "Go offline +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"reconnecting", core.Status{State: core.StateReconnecting, RetryAt: now.Add(3 * time.Second)}, ready,
			with("PIN Client: Reconnecting in 3 s", "-", "Go offline +", "Reconnect now +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"auth rejected", core.Status{State: core.StateAuthRejected}, ready,
			with("PIN Client: Credentials rejected", "-", "Go offline +", "Reconnect now +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"interview failed: no reconnect inside the retry window", core.Status{State: core.StateInterviewFailed, RetryAt: now.Add(2 * time.Minute)}, ready,
			with("PIN Client: Interview failed (retry in 2 min)", "-", "Go offline +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"interview failed, window over", core.Status{State: core.StateInterviewFailed, RetryAt: now.Add(-time.Second)}, ready,
			with("PIN Client: Interview failed", "-", "Go offline +", "Reconnect now +", "Pause for 1 hour +", "Pause until tomorrow +")},
		{"draining", core.Status{State: core.StateDraining, InFlight: 1}, ready,
			with("PIN Client: Draining", "-", "Going offline…")},
		{"autostart on", core.Status{}, MenuEnv{Configured: true, Autostart: true, AutostartSupported: true},
			[]string{"PIN Client: Offline", "-", "Go online +", "Open dashboard +", "-",
				"Start at login + x", "Install background service…", "-", "Quit +"}},
		{"no autostart on this OS", core.Status{}, MenuEnv{Configured: true, ServiceSupported: true},
			[]string{"PIN Client: Offline", "-", "Go online +", "Open dashboard +", "-",
				"Start at login", "Install background service… +", "-", "Quit +"}},
		{"quitting", core.Status{State: core.StateDraining, InFlight: 2}, MenuEnv{Configured: true, Quitting: true, AutostartSupported: true, ServiceSupported: true},
			[]string{"PIN Client: quitting, finishing 2 running jobs, then going offline", "-", "Going offline…", "Open dashboard +", "-",
				"Start at login", "Install background service…", "-", "Quit"}},
		{"attached to the service", core.Status{State: core.StateOnline},
			MenuEnv{Configured: true, AutostartSupported: true, ServiceSupported: true, ServiceInstalled: true, Attached: "background service"},
			[]string{"PIN Client: Online (background service)", "-", "Go offline +", "Pause for 1 hour +", "Pause until tomorrow +", "Open dashboard +", "-",
				"Start at login +", "Remove background service… +", "-", "Quit +"}},
		{"attached to a terminal daemon", core.Status{State: core.StateOffline},
			MenuEnv{Configured: true, AutostartSupported: true, ServiceSupported: true, Attached: "pin-clientd in a terminal"},
			[]string{"PIN Client: Offline (pin-clientd in a terminal)", "-", "Go online +", "Open dashboard +", "-",
				"Start at login +", "Install background service…", "-", "Quit +"}},
		{"service installed but stopped, own engine", core.Status{State: core.StateOffline},
			MenuEnv{Configured: true, ServiceSupported: true, ServiceInstalled: true},
			[]string{"PIN Client: Offline", "-", "Go online +", "Open dashboard +", "-",
				"Start at login", "Remove background service… +", "-", "Quit +"}},
		{"handing over", core.Status{State: core.StateOffline},
			MenuEnv{Configured: true, ServiceSupported: true, Switching: "starting the background service…"},
			[]string{"PIN Client: starting the background service…", "-", "Go online", "Open dashboard +", "-",
				"Start at login", "Install background service…", "-", "Quit +"}},
		{"quitting while attached", core.Status{State: core.StateOnline},
			MenuEnv{Configured: true, ServiceSupported: true, ServiceInstalled: true, Attached: "background service", Quitting: true},
			[]string{"PIN Client: quitting; the background service keeps running", "-", "Go offline", "Open dashboard +", "-",
				"Start at login", "Remove background service…", "-", "Quit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shown(Menu(tt.s, tt.env, now))
			if !slices.Equal(got, tt.want) {
				t.Errorf("menu:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMenuComparable(t *testing.T) {
	env := MenuEnv{Configured: true}
	a := Menu(core.Status{State: core.StateOnline, InFlight: 1}, env, now)
	b := Menu(core.Status{State: core.StateOnline, InFlight: 5}, env, now)
	if !slices.Equal(a, b) {
		t.Error("menus for two online snapshots differ; the tray would be rebuilt for nothing")
	}
	c := Menu(core.Status{State: core.StateOffline}, env, now)
	if slices.Equal(a, c) {
		t.Error("online and offline menus are equal")
	}
}
