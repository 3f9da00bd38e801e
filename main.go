// Command pin-client is the PIN Client desktop app: a window for setup and the
// dashboard, and a system-tray toggle that takes the operator's nodes online or offline.
// When the background service (or pin-clientd in a terminal) already serves the
// operator, the app attaches to it over the local control API and drives it; otherwise
// the relay engine runs inside this process. Package app does both.
//
// This main package sits at the module root, not under cmd/, on purpose: the fyne tool
// (`fyne package`, `fyne build`) reads FyneApp.toml from the main package's folder, and
// FyneApp.toml belongs at the top level of the repository. Building it needs cgo and
// the OpenGL/X11 headers (see README.md, "The desktop app"); the daemon, cmd/pin-clientd,
// needs neither.
//
// Usage:
//
//	pin-client [--background] [-l level] [-V]
//	pin-client --demo [--builtin]    try it without an account (docs/demo.md)
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	fyneapp "fyne.io/fyne/v2/app"

	"github.com/pin-client/pin-client/app"
	"github.com/pin-client/pin-client/internal/logging"
	"github.com/pin-client/pin-client/internal/version"
)

// appID must match Details.ID in FyneApp.toml: Fyne keys preferences and storage by it.
const appID = "net.aiassist.pinclient"

// appName is the app's name as the tray and the desktop show it (Details.Name in
// FyneApp.toml).
const appName = "PIN Client"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pin-client:", err)
		os.Exit(2)
	}
}

// run parses the flags and runs the app until it quits. Fyne owns the main thread and
// turns SIGINT/SIGTERM into a quit; app.UI.Run returns only after the app's own engine
// drained (an engine it attached to keeps running).
func run(args []string) error {
	fs := flag.NewFlagSet("pin-client", flag.ContinueOnError)
	background := fs.Bool("background", false, "start hidden in the system tray (Start at login uses this)")
	level := fs.String("l", "info", "log level: trace, debug, info, warn or error")
	showVersion := fs.Bool("V", false, "print the version and exit")
	demoMode := fs.Bool("demo", false, "try it without an account: a local gateway and sample requests, nothing leaves this machine (docs/demo.md)")
	builtIn := fs.Bool("builtin", false, "with --demo: use the built-in demo backend even when a local LLM server is found")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Printf("pin-client %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	}
	lv, err := logging.ParseLevel(*level)
	if err != nil {
		return fmt.Errorf("-l: %w", err)
	}
	log := slog.New(logging.New(os.Stderr, lv, false)) // the daemon's format, tags and all
	slog.SetDefault(log)

	app.PrepareFyne()
	id := appID
	if *demoMode {
		id += ".demo" // its own preferences, apart from the real app's
	}
	fa := fyneapp.NewWithID(id)
	if m := fa.Metadata(); m.Name == "" {
		// `go build` has no FyneApp.toml metadata (`fyne build` has): without a name the
		// tray's title is the app id.
		m.ID, m.Name, m.Version = id, appName, version.Version
		fyneapp.SetMetadata(m)
	}
	if *demoMode {
		return app.RunDemo(fa, log, *builtIn)
	}
	ui := app.New(fa, app.Defaults(app.Options{Logger: log, StartDemo: app.StartDemoProcess}))
	if err := ui.Run(*background); errors.Is(err, app.ErrAlreadyRunning) {
		fmt.Fprintln(os.Stderr, "pin-client:", err)
	}
	return nil
}
