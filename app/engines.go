package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/app/present"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/installer"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/enginelock"
)

// Time limits for finding and handing over to a running engine.
const (
	attachTimeout = 3 * time.Second  // one look for a running engine (local sockets)
	handoffWait   = 15 * time.Second // a freshly started service's control API answers
	handoffPoll   = 250 * time.Millisecond
	// restartWait: a user service that stopped is restarted by its manager after
	// installer.RestartDelay; the app waits that long and a margin before taking over.
	restartWait = installer.RestartDelay + 5*time.Second
	heldRetry   = time.Second // the lock holder may be exiting: try once more after this
	// An engine that goes away within flapWindow of attaching (it answers /info but its
	// watch stream fails: a version mismatch, a crash loop) is looked for again only
	// after flapDelay, so the app does not hammer its socket.
	flapWindow    = 5 * time.Second
	flapDelay     = 5 * time.Second
	reloadTimeout = 5 * time.Minute // an attached engine drains, then reconnects
)

// running is the app's own engine and its lifetime.
type running struct {
	eng    Engine
	cancel context.CancelFunc // ends Run, which drains running jobs
	done   chan struct{}      // closed when Run has returned
}

// attached is an engine in another process that the app shows and drives.
type attached struct {
	r      Remote
	info   EngineInfo
	cancel context.CancelFunc // ends the subscription; the engine keeps running
	since  time.Time          // when the app attached (Options.Now)
}

// found is the result of looking for a running engine.
type found struct {
	r    Remote
	info EngineInfo
	st   core.Status // its status when found
}

// idle is the status shown while no engine runs: offline, why (may be ""), and the
// saved config's nodes, so their cards stay on the dashboard. UI thread.
func (u *UI) idle(why string) core.Status {
	st := core.Status{State: core.StateOffline, LastError: why}
	if u.cfg == nil {
		return st
	}
	for _, n := range u.cfg.Nodes {
		st.Nodes = append(st.Nodes, core.NodeStatus{Alias: n.Alias, BackendURL: n.InferenceURI, APIMode: n.APIMode,
			Region: n.Region, Capacity: n.Capacity, Price: n.Price()})
	}
	return st
}

// find looks for a running engine for the operator (off the UI thread) and attaches to
// it. When none runs and own is set, it starts the app's own engine, online if online.
// Nothing happens while an engine is shown or a find is in flight (a later Go online
// joins the one in flight). UI thread.
func (u *UI) find(online, own bool) { u.findThen(online, own, false, nil) }

// findThen is find. With waitService, an installed user service that does not answer
// yet is waited for (restartWait) before the app's own engine starts: at login the app
// may start before the service, and its engine would take the lock the service needs.
// then, if not nil, learns on the UI thread whether it attached to a running engine (it
// is not called when the find was superseded or not started).
func (u *UI) findThen(online, own, waitService bool, then func(attached bool)) {
	if u.starting {
		u.startOnline = u.startOnline || online // the start in flight goes online
		return
	}
	if u.cfg == nil || u.eng != nil || u.remote != nil || u.quitting {
		return
	}
	cfg, wait := u.cfg, u.restartWait
	u.starting, u.startOnline, u.startAsked = true, online, false
	go func() {
		f := u.lookForEngine(cfg)
		installed := u.opts.Installer != nil && u.opts.Installer.Installed()
		waited := false
		if f == nil && own && waitService && installed {
			waited = true
			u.do(func() {
				if u.switching == "" {
					u.switching = "waiting for the background service to start…"
					u.render()
				}
			})
			f, _ = u.waitForEngine(cfg, wait)
		}
		var (
			lookup  EngineSpec
			lookErr error
		)
		if f == nil && own {
			lookup.Secret, lookup.SecretSource, lookErr = u.lookupSecret(cfg)
		}
		u.do(func() {
			online, asked := u.startOnline, u.startAsked
			u.starting = false
			u.svcInstalled = installed
			if waited && u.switching == "waiting for the background service to start…" {
				u.switching = ""
			}
			if cfg != u.cfg || u.quitting || u.eng != nil || u.remote != nil {
				u.render()
				return // settings were saved, Quit chosen, or an engine shown meanwhile
			}
			if f != nil {
				u.attach(f)
				if asked {
					go f.r.GoOnline()
				}
				if then != nil {
					then(true)
				}
				return
			}
			if then != nil {
				then(false)
			}
			if !own {
				u.render()
				return
			}
			if lookErr != nil {
				u.apply(u.idle(lookErr.Error()))
				if online {
					u.showSetup()
					u.win.Show()
				}
				return
			}
			u.launch(cfg, lookup.Secret, lookup.SecretSource, online)
		})
	}()
}

// lookForEngine asks Attach for a running engine serving cfg's operator; nil when none
// answers. Off the UI thread.
func (u *UI) lookForEngine(cfg *config.Config) *found {
	if u.opts.Attach == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), attachTimeout)
	defer cancel()
	r, info, err := u.opts.Attach(ctx, cfg.ClientID)
	if err != nil {
		u.log.Debug("no running engine to attach to", "err", err)
		return nil
	}
	if info.ClientID != cfg.ClientID {
		u.log.Warn("not attaching to a running engine of another operator", "engineClientId", info.ClientID,
			"clientId", cfg.ClientID, "kind", info.Kind, "pid", info.PID, "socket", info.Socket)
		return nil
	}
	return &found{r: r, info: info, st: r.Status()}
}

// attach shows and drives the engine f until it goes away. UI thread.
func (u *UI) attach(f *found) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &attached{r: f.r, info: f.info, cancel: cancel, since: u.opts.Now()}
	u.remote = a
	u.heldRetried = false
	if f.info.Kind == present.KindService && appService(f.info.Scope) {
		u.svcInstalled = true
	}
	u.log.Info("showing a running engine", "kind", f.info.Kind, "scope", f.info.Scope, "pid", f.info.PID,
		"version", f.info.Version, "socket", f.info.Socket, "config", f.info.ConfigPath)
	u.apply(f.st)
	go func() {
		u.follow(f.r.Subscribe(ctx), func() bool { return u.remote == a })
		u.do(func() {
			if u.remote == a {
				u.remoteGone(a)
			}
		})
	}()
}

// detach stops showing the attached engine; it keeps running. UI thread.
func (u *UI) detach() {
	if a := u.remote; a != nil {
		u.remote = nil
		a.cancel()
	}
}

// remoteGone: the attached engine's process stopped (its subscription closed). The app
// looks for another and otherwise runs its own engine, online if the operator left the
// app's engine online. An installed user service that stopped is given time to be
// restarted by its service manager first (the app's engine would take the lock and
// make that restart fail). During a hand-off the hand-off decides what comes next.
// UI thread.
func (u *UI) remoteGone(a *attached) {
	u.detach()
	u.log.Info("the engine shown went away", "kind", a.info.Kind, "pid", a.info.PID)
	u.apply(u.idle(""))
	if u.quitting || u.switching != "" {
		return
	}
	if u.opts.Now().Sub(a.since) < flapWindow {
		u.log.Warn("the engine went away right after the app attached; looking again in a moment", "after", flapDelay)
		u.after(flapDelay, func() {
			u.do(func() {
				if u.eng == nil && u.remote == nil && !u.quitting && u.switching == "" {
					u.find(u.fa.Preferences().Bool(prefWantOnline), true)
				}
			})
		})
		return
	}
	if a.info.Kind == present.KindService && appService(a.info.Scope) && u.svcInstalled && u.opts.Installer != nil {
		u.awaitService()
		return
	}
	u.find(u.fa.Preferences().Bool(prefWantOnline), true)
}

// awaitService waits up to restartWait for the stopped user service to answer again
// (restarted after a failure) and attaches to it; if it is no longer installed or does
// not come back, the app runs its own engine. UI thread.
func (u *UI) awaitService() {
	u.switching = "the background service stopped; waiting for it to restart…"
	u.render()
	cfg, wait := u.cfg, u.restartWait
	go func() {
		var f *found
		if u.opts.Installer.Installed() {
			f, _ = u.waitForEngine(cfg, wait)
		}
		u.do(func() {
			u.switching = ""
			if u.quitting || u.eng != nil || u.remote != nil || cfg != u.cfg {
				u.render()
				return
			}
			if f != nil {
				u.attach(f)
				return
			}
			u.log.Info("the background service did not come back; this app runs the engine", "waited", wait)
			u.find(u.fa.Preferences().Bool(prefWantOnline), true)
		})
	}()
}

// follow applies snapshots from ch on the UI thread while current holds, and returns
// when ch is closed. At most one apply is queued at a time: a burst of snapshots
// collapses into the newest. Off the UI thread.
func (u *UI) follow(ch <-chan core.Status, current func() bool) {
	var latest atomic.Pointer[core.Status]
	for st := range ch {
		if latest.Swap(&st) != nil {
			continue // an apply is already queued; it will take this one
		}
		u.do(func() {
			if s := latest.Swap(nil); s != nil && current() {
				u.apply(*s)
			}
		})
	}
}

// launch creates and runs the app's own engine. UI thread; no engine may be shown:
// there is never more than one.
func (u *UI) launch(cfg *config.Config, secret protocol.Secret, source string, online bool) {
	if u.eng != nil || u.remote != nil {
		u.log.Error("an engine is already shown; not starting another")
		return
	}
	if u.opts.NewEngine == nil {
		u.apply(u.idle("this build has no relay engine"))
		return
	}
	var r *running
	reloaded := func(c *config.Config) { // the CLI reloaded this engine: show and edit its config
		u.do(func() {
			if u.eng == r && r != nil {
				u.cfg = c
				u.render()
			}
		})
	}
	eng, err := u.opts.NewEngine(EngineSpec{Config: cfg, ConfigPath: u.configPath(), Secret: secret, SecretSource: source, Logger: u.log, Reloaded: reloaded})
	if err != nil {
		u.apply(u.idle(err.Error()))
		return
	}
	runCtx, cancel := context.WithCancel(context.Background())
	// The subscription outlives cancel so the draining is shown; it ends after Run.
	subCtx, endSub := context.WithCancel(context.Background())
	r = &running{eng: eng, cancel: cancel, done: make(chan struct{})}
	u.eng = r
	go func() {
		err := eng.Run(runCtx)
		endSub()
		close(r.done)
		switch {
		case errors.Is(err, enginelock.ErrHeld):
			u.do(func() {
				if u.eng == r {
					u.eng = nil
					u.engineHeld(err, online)
				}
			})
		case err != nil:
			u.log.Error("engine stopped", "err", err)
		}
	}()
	ch := eng.Subscribe(subCtx)
	go u.follow(ch, func() bool { return u.eng == r })
	u.apply(eng.Status())
	if online {
		eng.GoOnline()
	}
}

// engineHeld: the app's own engine could not start because another process runs one
// for the operator. The app attaches to that engine instead and says so once. If none
// answers, the holder may have been exiting (a service being removed): the app tries its
// own engine once more a moment later, and only if that fails too it shows the message
// (and stays offline: Go online tries again). UI thread.
func (u *UI) engineHeld(err error, online bool) {
	u.log.Warn("another engine serves the operator", "err", err)
	u.apply(u.idle(err.Error()))
	first := !u.heldRetried
	u.heldRetried = true
	u.findThen(online, false, false, func(attached bool) {
		if attached || !first {
			u.showHeldOnce(err)
			return
		}
		u.after(heldRetry, func() {
			u.do(func() {
				if u.eng == nil && u.remote == nil && !u.quitting && u.switching == "" {
					u.find(online, true)
				}
			})
		})
	})
}

// showHeldOnce tells the operator, once per run of the app, that another engine serves
// their nodes. UI thread.
func (u *UI) showHeldOnce(err error) {
	if u.heldShown {
		return
	}
	u.heldShown = true
	u.showInfo("Another engine serves your nodes", err.Error()+
		"\n\nThis app shows and drives that engine when it can reach it; it never starts a second one.")
}

// stopEngine cancels the app's own engine, waits off the UI thread for it to drain,
// then runs then on the UI thread. UI thread.
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

// quit ends the app. The app's own engine drains first; an attached engine keeps
// running (the app only stops watching it). It never exits the process itself: Run
// returns to main. UI thread.
func (u *UI) quit() {
	if u.quitting {
		return
	}
	u.quitting = true
	u.render()
	u.detach()
	u.stopEngine(func() { u.fa.Quit() })
}

// waitForEngine looks for the operator's engine until one answers or wait passes (a
// service just started). Off the UI thread.
func (u *UI) waitForEngine(cfg *config.Config, wait time.Duration) (*found, error) {
	deadline := time.Now().Add(wait)
	for {
		if f := u.lookForEngine(cfg); f != nil {
			return f, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("it did not answer on its control socket within %s", wait.Round(time.Second))
		}
		t := time.NewTimer(min(handoffPoll, left))
		<-t.C
	}
}
