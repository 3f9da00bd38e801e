// Package app is the desktop face of PIN Client: a Fyne window (setup and dashboard) and
// a system-tray menu that show and drive the operator's relay engine through
// core.Controller.
//
// One engine serves an operator on a machine. On start, and whenever the engine it shows
// goes away, the app looks for a running one over the local control API (Options.Attach:
// the background service first, then pin-clientd in a terminal) and attaches to it: the
// dashboard and tray show its state, and the toggle, Reconnect now and Settings → Save
// (which writes the config file that engine reads, then asks it to reload) drive it.
// Only when none runs does the app run its own engine (Options.NewEngine, behind the
// one-engine lock and serving the control API itself, so the CLI can drive it too).
// "Install background service…" hands the app's engine over to the service without
// losing a job; "Remove background service…" hands it back. Quit drains only the app's
// own engine; an attached one keeps running.
//
// It is the only package in the module that imports fyne.io/... (Fyne's own app package
// is imported by the GUI main, as fyneapp). What needs no widgets lives elsewhere and is
// tested without Fyne: app/present (status → words, icons, menu items, table rows, which
// engine is shown) and app/autostart (the XDG start-at-login file).
//
// Threading: every widget is touched on Fyne's main thread only. Work that may block
// (keyring, detection, backend probes, the control socket, stopping the engine) runs in
// goroutines that hand their results back through UI.do, which is fyne.Do outside tests.
// The engine's status arrives through Controller.Subscribe on a goroutine and is applied
// the same way; the app never polls the engine.
package app
