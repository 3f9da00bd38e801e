package app

import (
	"context"
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
	"github.com/pin-client/pin-client/core/protocol"
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

	cfg      *config.Config // the saved config; nil before the first setup
	eng      *running       // the in-process engine; nil when none
	last     core.Status    // the snapshot shown
	menu     []present.MenuItem
	icon     present.Icon
	iconSet  bool
	quitting bool
	starting bool // startEngine's secret lookup is in flight
	// startOnline: the engine being started goes online (set by any caller meanwhile).
	startOnline bool
	tick        stopper // re-renders countdowns ("Reconnecting in N s")
	after       func(time.Duration, func()) stopper
	dash        *dashboard
	setup       *setupForm // non-nil while the setup screen is shown
	message     string     // the last dialog's text (what the operator was told)
}

// stopper is a pending timer (*time.Timer); tests substitute a manual one.
type stopper interface{ Stop() bool }

// running is one engine and its lifetime.
type running struct {
	eng    Engine
	cancel context.CancelFunc // ends Run, which drains running jobs
	done   chan struct{}      // closed when Run has returned
}

// New builds the app around fa. It reads the saved config (a missing one means first
// run) but starts nothing; Run does.
func New(fa fyne.App, opts Options) *UI {
	var tray trayHost
	if d, ok := fa.(desktop.App); ok {
		tray = d
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
	u := &UI{fa: fa, opts: opts, log: opts.Logger, tray: tray, do: do}
	u.after = func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
	fa.SetIcon(iconApp)
	u.win = fa.NewWindow("PIN Client")
	u.win.SetIcon(iconApp)
	u.win.Resize(fyne.NewSize(860, 720))
	u.win.SetCloseIntercept(u.closeWindow)
	u.dash = newDashboard(u)

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
	u.last = core.Status{State: core.StateOffline}
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
// engine has drained and stopped. With background set (start at login) the window
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
	if r := u.eng; r != nil {
		r.cancel()
		<-r.done
	}
	return nil
}

// start shows the first screen, sets up the tray and, when configured, starts the
// engine (online again if the operator left it online). UI thread.
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
	u.startEngine(u.cfg, u.fa.Preferences().Bool(prefWantOnline))
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

// ---- engine lifetime ----

// startEngine looks up the secret (off the UI thread: the keyring may block) and
// launches an engine for cfg, going online if online is set and no background service
// already serves the operator.
func (u *UI) startEngine(cfg *config.Config, online bool) {
	if u.starting {
		u.startOnline = u.startOnline || online // the start in flight goes online
		return
	}
	u.starting, u.startOnline = true, online
	go func() {
		busy := u.serviceBusy(true)
		secret, source, err := u.lookupSecret(cfg)
		u.do(func() {
			online := u.startOnline
			u.starting = false
			if cfg != u.cfg || u.quitting {
				return // settings were saved (or Quit chosen) meanwhile
			}
			if !online {
				busy = ""
			}
			if err != nil {
				u.apply(core.Status{State: core.StateOffline, LastError: err.Error()})
				if online {
					u.showSetup()
					u.win.Show()
				}
				return
			}
			u.launch(cfg, secret, source, online && busy == "")
			if busy != "" {
				u.apply(core.Status{State: core.StateOffline, LastError: busy})
			}
		})
	}()
}

// serviceBusy explains why the app must not go online (a running background service),
// or is "". Off the UI thread.
func (u *UI) serviceBusy(online bool) string {
	if !online || u.opts.ServiceActive == nil {
		return ""
	}
	if what := u.opts.ServiceActive(); what != "" {
		return "the background service serves your nodes (" + what + "); stop it with `pin-clientd service stop --user` to go online from here"
	}
	return ""
}

// launch creates and runs an engine. UI thread; any previous engine must be stopped:
// there is never more than one.
func (u *UI) launch(cfg *config.Config, secret protocol.Secret, source string, online bool) {
	if u.eng != nil {
		u.log.Error("engine already running; not starting another")
		return
	}
	if u.opts.NewEngine == nil {
		u.apply(core.Status{State: core.StateOffline, LastError: "this build has no relay engine"})
		return
	}
	eng, err := u.opts.NewEngine(cfg, secret, source, u.log)
	if err != nil {
		u.apply(core.Status{State: core.StateOffline, LastError: err.Error()})
		return
	}
	runCtx, cancel := context.WithCancel(context.Background())
	// The subscription outlives cancel so the draining is shown; it ends after Run.
	subCtx, endSub := context.WithCancel(context.Background())
	r := &running{eng: eng, cancel: cancel, done: make(chan struct{})}
	u.eng = r
	go func() {
		defer close(r.done)
		defer endSub()
		if err := eng.Run(runCtx); err != nil {
			u.log.Error("engine stopped", "err", err)
		}
	}()
	u.follow(r, eng.Subscribe(subCtx))
	u.apply(eng.Status())
	if online {
		eng.GoOnline()
	}
}

// follow applies snapshots from ch on the UI thread. At most one apply is queued at a
// time: a burst of snapshots collapses into the newest.
func (u *UI) follow(r *running, ch <-chan core.Status) {
	var latest atomic.Pointer[core.Status]
	go func() {
		for st := range ch {
			if latest.Swap(&st) != nil {
				continue // an apply is already queued; it will take this one
			}
			u.do(func() {
				if s := latest.Swap(nil); s != nil && u.eng == r {
					u.apply(*s)
				}
			})
		}
	}()
}

// stopEngine cancels the engine, waits off the UI thread for it to drain, then runs
// then on the UI thread. UI thread.
func (u *UI) stopEngine(then func()) {
	r := u.eng
	if r == nil {
		then()
		return
	}
	r.cancel()
	go func() {
		<-r.done
		u.do(func() {
			if u.eng == r {
				u.eng = nil
				st := r.eng.Status()
				st.State = core.StateOffline
				u.apply(st)
			}
			then()
		})
	}()
}

// quit drains the engine, then ends the app. It never exits the process itself: Run
// returns to main. UI thread.
func (u *UI) quit() {
	if u.quitting {
		return
	}
	u.quitting = true
	u.render()
	u.stopEngine(func() { u.fa.Quit() })
}

// ---- status → screen and tray ----

// apply shows a new snapshot. UI thread.
func (u *UI) apply(s core.Status) {
	u.last = s
	u.render()
}

func (u *UI) menuEnv() present.MenuEnv {
	env := present.MenuEnv{
		Configured:       u.cfg != nil,
		ServiceSupported: u.opts.Installer != nil,
		Quitting:         u.quitting,
	}
	if a := u.opts.Autostart; a != nil && a.Supported() {
		env.AutostartSupported = true
		env.Autostart = a.Enabled()
	}
	return env
}

// render redraws everything from u.last. The tray menu is rebuilt from the snapshot
// (never mutated) and only when it differs from the one shown. UI thread.
func (u *UI) render() {
	now := u.opts.Now()
	sum := present.Summarize(u.last, now)
	menu := present.Menu(u.last, u.menuEnv(), now)
	if u.tray != nil {
		if !slices.Equal(menu, u.menu) {
			u.tray.SetSystemTrayMenu(u.trayMenu(menu))
		}
		if !u.iconSet || sum.Icon != u.icon {
			u.tray.SetSystemTrayIcon(trayIcon(sum.Icon))
		}
	}
	u.menu, u.icon, u.iconSet = menu, sum.Icon, true
	u.win.SetTitle("PIN Client — " + sum.Title)
	u.dash.update(u.last, sum, menu)
	u.scheduleTick(now)
}

// scheduleTick re-renders once the shown countdown changes. The engine is not asked for
// anything: the last snapshot is rendered again with a later "now".
func (u *UI) scheduleTick(now time.Time) {
	if u.tick != nil {
		u.tick.Stop()
		u.tick = nil
	}
	left := u.last.RetryAt.Sub(now)
	if u.last.RetryAt.IsZero() || left <= 0 {
		return
	}
	switch u.last.State {
	case core.StateReconnecting, core.StateInterviewFailed:
	default:
		return
	}
	next := left % time.Second // seconds flip
	if u.last.State == core.StateInterviewFailed {
		next = left % time.Minute
	}
	if next == 0 {
		next = time.Second
	}
	u.tick = u.after(next+10*time.Millisecond, func() { u.do(u.render) })
}

func (u *UI) trayMenu(items []present.MenuItem) *fyne.Menu {
	out := make([]*fyne.MenuItem, 0, len(items))
	for _, it := range items {
		if it.Item == present.ItemSeparator {
			out = append(out, fyne.NewMenuItemSeparator())
			continue
		}
		mi := fyne.NewMenuItem(it.Label, u.action(it.Item))
		mi.Disabled = !it.Enabled
		mi.Checked = it.Checked
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
	case present.ItemQuit:
		return u.quit
	default:
		return nil
	}
}

// toggle goes online when offline and offline (draining first) otherwise.
func (u *UI) toggle() {
	if u.last.State == core.StateOffline {
		u.goOnline()
	} else {
		u.goOffline()
	}
}

func (u *UI) goOnline() {
	if u.cfg == nil {
		u.showWindow()
		return
	}
	u.fa.Preferences().SetBool(prefWantOnline, true)
	if u.eng == nil {
		u.startEngine(u.cfg, true)
		return
	}
	r := u.eng
	go func() {
		busy := u.serviceBusy(true)
		u.do(func() {
			switch {
			case u.eng != r:
			case busy != "":
				u.apply(core.Status{State: core.StateOffline, LastError: busy})
			default:
				r.eng.GoOnline()
			}
		})
	}()
}

func (u *UI) goOffline() {
	u.fa.Preferences().SetBool(prefWantOnline, false)
	if u.eng != nil {
		u.eng.eng.GoOffline()
	}
}

func (u *UI) reconnect() {
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
