package app

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/pin-client/pin-client/app/present"
	"github.com/pin-client/pin-client/app/single"
	"github.com/pin-client/pin-client/assets"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
)

// prefWantOnline remembers whether the operator left the node online, so the next start
// (for example at login) goes online again only if they chose so.
const prefWantOnline = "wantOnline"

// trayHost is the part of desktop.App the app uses; tests substitute a recorder.
type trayHost interface {
	SetSystemTrayMenu(*fyne.Menu)
	SetSystemTrayIcon(fyne.Resource)
}

var (
	iconApp       = fyne.NewStaticResource("pin-client.png", assets.AppIcon)
	iconOnline    = fyne.NewStaticResource("tray-online.png", assets.TrayOnline)
	iconOffline   = fyne.NewStaticResource("tray-offline.png", assets.TrayOffline)
	iconAttention = fyne.NewStaticResource("tray-attention.png", assets.TrayAttention)
)

func trayIcon(i present.Icon) fyne.Resource {
	switch i {
	case present.IconOnline:
		return iconOnline
	case present.IconAttention:
		return iconAttention
	default:
		return iconOffline
	}
}

// UI is the desktop app: one window (setup or dashboard) and the tray. Create it with
// New and start it with Run. Apart from the constructor, its fields are touched on
// Fyne's main thread only (see the package doc).
type UI struct {
	fa   fyne.App
	opts Options
	log  *slog.Logger
	win  fyne.Window
	tray trayHost     // nil where the driver has no system tray: closing the window quits
	do   func(func()) // runs f on the UI thread; fyne.Do
	// loopDone: Fyne's event loop has returned; do drops work from then on.
	loopDone atomic.Bool

	cfg *config.Config // the app's saved config; nil before the first setup
	// The engine shown: the app's own (eng) or one in another process (remote). At most
	// one of them is set: the app never runs an engine while it shows another.
	eng      *running
	remote   *attached
	last     core.Status // the snapshot shown
	menu     []present.MenuItem
	icon     present.Icon
	iconSet  bool
	tooltip  string // the tray tooltip shown
	quitting bool
	// starting: find is looking for a running engine, or looking up the secret for the
	// app's own one. startOnline: the app's engine being started goes online;
	// startAsked: the operator chose Go online meanwhile (an attached engine goes online).
	starting, startOnline, startAsked bool
	// heldRetried: after the lock was found held and no engine answered, the app's own
	// engine was tried once more; Go online resets it.
	heldRetried  bool
	heldShown    bool          // the "another engine serves your nodes" dialog was shown
	svcInstalled bool          // the background service is installed (Installer.Installed)
	switching    string        // a hand-off in progress, in words; "" when none
	handoffWait  time.Duration // how long a hand-off waits for the service to answer
	restartWait  time.Duration // how long a stopped user service may take to restart
	tick         stopper       // re-renders countdowns and uptimes
	after        func(time.Duration, func()) stopper
	dash         *dashboard
	setup        *setupForm // non-nil while the setup screen is shown
	message      string     // the last dialog's text (what the operator was told)
	views        *views     // the Activity and Notifications tabs, the throughput line, notifications (activity.go)
}

// stopper is a pending timer (*time.Timer); tests substitute a manual one.
type stopper interface{ Stop() bool }

// New builds the app around fa. It reads the saved config (a missing one means first
// run) but starts nothing; Run does.
func New(fa fyne.App, opts Options) *UI {
	var tray trayHost
	if d, ok := fa.(desktop.App); ok {
		tray = systemTray{d}
	}
	return newUI(fa, opts, tray, fyne.Do)
}

func newUI(fa fyne.App, opts Options, tray trayHost, do func(func())) *UI {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConfigDir == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			opts.ConfigDir = filepath.Join(dir, "pin-client")
		}
	}
	u := &UI{fa: fa, opts: opts, log: opts.Logger, tray: tray, handoffWait: handoffWait, restartWait: restartWait}
	// Once Fyne's loop has ended (Quit, or SIGINT/SIGTERM, which Fyne turns into a quit
	// before the engine drained), the engine's last snapshots have no window to go to:
	// drawing them would touch a terminated GLFW.
	u.do = func(f func()) {
		if !u.loopDone.Load() {
			do(f)
		}
	}
	u.after = func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
	fa.SetIcon(iconApp)
	u.win = fa.NewWindow("PIN Client")
	u.win.SetIcon(iconApp)
	u.win.Resize(fyne.NewSize(860, 720))
	u.win.SetCloseIntercept(u.closeWindow)
	u.dash = newDashboard(u)
	u.views = newViews(u)

	cfg, err := u.loadConfig()
	switch {
	case err == nil:
		u.cfg = cfg
	case errors.Is(err, fs.ErrNotExist):
		// First run: setup.
	default:
		u.log.Warn("config unreadable; showing setup", "path", u.configPath(), "err", err)
		u.message = err.Error()
	}
	u.last = u.idle("")
	return u
}

// configPath is where the app keeps config.json.
func (u *UI) configPath() string { return filepath.Join(u.opts.ConfigDir, "config.json") }

func (u *UI) loadConfig() (*config.Config, error) {
	if u.opts.ConfigDir == "" {
		return nil, errors.New("no user config directory; set $HOME (or $XDG_CONFIG_HOME)")
	}
	cfg, _, err := config.Load(u.configPath(), u.log)
	return cfg, err
}

// ErrAlreadyRunning is returned by Run when another instance of the app runs for this
// user; that one was asked to show its window.
var ErrAlreadyRunning = single.ErrRunning

// Run shows the app and blocks in Fyne's event loop until the app quits (the tray's
// Quit, or SIGINT/SIGTERM, which Fyne turns into a quit). It returns only after the
// app's own engine has drained and stopped; an engine the app attached to (the
// background service, pin-clientd in a terminal) keeps running. With background set (start at login) the window
// stays hidden unless setup is needed. If the app already runs for this user, Run
// brings that instance's window to the front and returns ErrAlreadyRunning at once:
// two apps would run two engines on one operator account.
func (u *UI) Run(background bool) error {
	if u.opts.ConfigDir != "" {
		release, err := single.Claim(filepath.Join(u.opts.ConfigDir, "instance.sock"), func() { u.do(u.showWindow) })
		switch {
		case errors.Is(err, single.ErrRunning):
			return err
		case err != nil:
			u.log.Warn("cannot check for another running instance", "err", err)
		default:
			defer release()
		}
	}
	u.start(background)
	u.fa.Run()
	u.loopDone.Store(true)
	if a := u.remote; a != nil {
		a.cancel()
	}
	if r := u.eng; r != nil {
		r.cancel()
		<-r.done
	}
	return nil
}

// start shows the first screen, sets up the tray and, when configured, attaches to the
// operator's running engine or starts the app's own (online again if the operator left
// it online). UI thread.
func (u *UI) start(background bool) {
	if u.tray != nil {
		if d, ok := u.tray.(desktop.App); ok {
			d.SetSystemTrayWindow(u.win)
			u.win.SetCloseIntercept(u.closeWindow) // SetSystemTrayWindow installs its own
		}
	}
	u.render()
	if u.cfg == nil {
		u.showSetup()
		u.win.Show()
		return
	}
	u.showDashboard()
	if !background {
		u.win.Show()
	}
	u.findThen(u.fa.Preferences().Bool(prefWantOnline), true, true, nil)
}

// closeWindow hides the window to the tray; without a tray there is no way back, so it
// quits instead.
func (u *UI) closeWindow() {
	if u.tray == nil {
		u.quit()
		return
	}
	u.win.Hide()
}

// ---- status → screen and tray ----

// apply shows a new snapshot. UI thread.
func (u *UI) apply(s core.Status) {
	u.views.observe(s)
	u.last = s
	u.render()
}

func (u *UI) menuEnv() present.MenuEnv {
	env := present.MenuEnv{
		Configured:       u.cfg != nil,
		ServiceSupported: u.opts.Installer != nil,
		ServiceInstalled: u.svcInstalled,
		Switching:        u.switching,
		Quitting:         u.quitting,
	}
	if e := u.engineShown(); e.Attached() {
		env.Attached = e.Name()
		env.ServiceInstalled = env.ServiceInstalled || e.Kind == present.KindService && appService(e.Scope)
	}
	if a := u.opts.Autostart; a != nil && a.Supported() {
		env.AutostartSupported = true
		env.Autostart = a.Enabled()
	}
	return env
}

// engineShown is the engine the dashboard and tray show; the zero Engine when none
// runs.
func (u *UI) engineShown() present.Engine {
	if a := u.remote; a != nil {
		return present.Engine{Kind: a.info.Kind, Scope: a.info.Scope, PID: a.info.PID, Started: a.info.Started}
	}
	if u.eng != nil {
		return present.Engine{Kind: present.KindApp}
	}
	return present.Engine{}
}

// render redraws everything from u.last. The tray menu is rebuilt from the snapshot
// (never mutated) and only when it differs from the one shown. UI thread.
func (u *UI) render() {
	now := u.opts.Now()
	sum := present.Summarize(u.last, now)
	if u.switching != "" {
		sum.Reason = u.switching
	}
	env := u.menuEnv()
	menu := present.Menu(u.last, env, now)
	if u.tray != nil {
		if !slices.Equal(menu, u.menu) {
			u.tray.SetSystemTrayMenu(u.trayMenu(menu))
		}
		if !u.iconSet || sum.Icon != u.icon {
			u.tray.SetSystemTrayIcon(trayIcon(sum.Icon))
		}
	}
	u.menu, u.icon, u.iconSet = menu, sum.Icon, true
	u.setTooltip(sum)
	u.win.SetTitle(u.windowTitle(sum.Title))
	engine := u.engineShown()
	u.dash.update(u.last, sum, menu, present.EngineLine(engine, now))
	u.scheduleTick(now, engine)
}

// scheduleTick re-renders once the shown countdown or the attached engine's uptime
// changes. The engine is not asked for anything: the last snapshot is rendered again
// with a later "now".
func (u *UI) scheduleTick(now time.Time, engine present.Engine) {
	if u.tick != nil {
		u.tick.Stop()
		u.tick = nil
	}
	next := present.NextUptimeChange(engine, now)
	if left := u.last.RetryAt.Sub(now); !u.last.RetryAt.IsZero() && left > 0 {
		var c time.Duration
		switch u.last.State {
		case core.StateReconnecting:
			c = left % time.Second // seconds flip
		case core.StateInterviewFailed:
			c = left % time.Minute
		}
		if c == 0 && (u.last.State == core.StateReconnecting || u.last.State == core.StateInterviewFailed) {
			c = time.Second
		}
		if c > 0 && (next == 0 || c < next) {
			next = c
		}
	}
	if next <= 0 || u.quitting {
		return
	}
	u.tick = u.after(next+10*time.Millisecond, func() { u.do(u.render) })
}

func (u *UI) trayMenu(items []present.MenuItem) *fyne.Menu {
	out := u.demoMenuItems()
	for _, it := range items {
		if it.Item == present.ItemSeparator {
			out = append(out, fyne.NewMenuItemSeparator())
			continue
		}
		mi := fyne.NewMenuItem(trayLabel(it), u.action(it.Item))
		mi.Disabled = !it.Enabled
		mi.Checked = it.Checked && it.Item != present.ItemAutostart // its label shows the state
		mi.IsQuit = it.Item == present.ItemQuit
		out = append(out, mi)
	}
	return fyne.NewMenu("PIN Client", out...)
}

// action is what a tray item (or the matching dashboard button) does. UI thread.
func (u *UI) action(item present.Item) func() {
	switch item {
	case present.ItemToggle:
		return u.toggle
	case present.ItemReconnect:
		return u.reconnect
	case present.ItemDashboard:
		return u.showWindow
	case present.ItemAutostart:
		return u.toggleAutostart
	case present.ItemService:
		return u.installService
	case present.ItemRemoveService:
		return u.removeService
	case present.ItemQuit:
		return u.quit
	default:
		return u.pauseAction(item) // pause.go
	}
}

// toggle goes online when offline and offline (draining first) otherwise, on whichever
// engine is shown.
func (u *UI) toggle() {
	if u.last.State == core.StateOffline && !u.last.Paused { // paused: the toggle reads "Stay offline"
		u.goOnline()
	} else {
		u.goOffline()
	}
}

// goOnline takes the shown engine online. The choice is remembered for the app's own
// engine only: an attached engine keeps its own state across the app's restarts.
func (u *UI) goOnline() {
	if u.cfg == nil {
		u.showWindow()
		return
	}
	if a := u.remote; a != nil {
		go a.r.GoOnline()
		return
	}
	u.fa.Preferences().SetBool(prefWantOnline, true)
	if u.eng == nil {
		u.heldRetried = false // the operator asks again: try the app's own engine again
		if u.starting {
			u.startAsked = true
		}
		u.find(true, true)
		return
	}
	u.eng.eng.GoOnline()
}

func (u *UI) goOffline() {
	if a := u.remote; a != nil {
		go a.r.GoOffline()
		return
	}
	u.fa.Preferences().SetBool(prefWantOnline, false)
	if u.eng != nil {
		u.eng.eng.GoOffline()
	}
}

func (u *UI) reconnect() {
	if a := u.remote; a != nil {
		go a.r.ReconnectNow()
		return
	}
	if u.eng != nil {
		u.eng.eng.ReconnectNow()
	}
}

func (u *UI) showWindow() {
	if u.cfg == nil && u.setup == nil {
		u.showSetup()
	}
	u.win.Show()
	u.win.RequestFocus()
	u.views.act.refresh() // the Activity view, if it is the tab shown, reads afresh
}

func (u *UI) toggleAutostart() {
	a := u.opts.Autostart
	if a == nil || !a.Supported() {
		return
	}
	if err := a.SetEnabled(!a.Enabled()); err != nil {
		u.showError(err)
	}
	u.render()
}

// ---- dialogs ----

func (u *UI) showError(err error) {
	u.message = err.Error()
	u.log.Warn("shown to operator", "err", err)
	dialog.ShowError(err, u.win)
	u.win.Show()
}

func (u *UI) showInfo(title, msg string) {
	u.message = msg
	dialog.ShowInformation(title, msg, u.win)
	u.win.Show()
}
