// Package app is the desktop face of PIN Client: a Fyne window (setup and dashboard) and
// a system-tray menu that drive an in-process relay engine through core.Controller.
//
// It is the only package in the module that imports fyne.io/... (Fyne's own app package
// is imported by the GUI main, as fyneapp). What needs no widgets lives elsewhere and is
// tested without Fyne: app/present (status → words, icons, menu items, table rows) and
// app/autostart (the XDG start-at-login file).
//
// Threading: every widget is touched on Fyne's main thread only. Work that may block
// (keyring, detection, backend probes, stopping the engine) runs in goroutines that hand
// their results back through UI.do, which is fyne.Do outside tests. The engine's status
// arrives through Controller.Subscribe on a goroutine and is applied the same way; the
// app never polls the engine.
package app
