package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2/dialog"

	"github.com/pin-client/pin-client/core"
)

// installTimeout bounds the installer, including an elevation prompt left open.
const installTimeout = 5 * time.Minute

// installService asks for confirmation, then installs the background service. UI thread.
func (u *UI) installService() {
	if u.opts.Installer == nil || u.cfg == nil {
		return
	}
	msg := "The background service runs your node without this window, also after logout and reboot.\n\n" +
		"Only one engine may serve your operator account at a time, so this app stops its own engine first: " +
		"running jobs finish, then it disconnects. You may be asked for your password."
	d := dialog.NewConfirm("Install background service", msg, func(ok bool) {
		if ok {
			u.doInstall()
		}
	}, u.win)
	d.SetConfirmText("Install")
	d.Show()
	u.win.Show()
}

// doInstall drains and stops the in-process engine, then runs the installer off the UI
// thread and reports the outcome. UI thread.
func (u *UI) doInstall() {
	u.fa.Preferences().SetBool(prefWantOnline, false)
	u.stopEngine(func() {
		u.apply(core.Status{State: core.StateOffline})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
			defer cancel()
			what, err := u.opts.Installer.Install(ctx)
			u.do(func() {
				if err != nil {
					u.showError(err)
					return
				}
				u.showInfo("Background service installed",
					what+"\n\nThe service now serves your nodes; this app's own engine stays offline. "+
						"Use Go online here only after stopping the service.")
			})
		}()
	})
}
