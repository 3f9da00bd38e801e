// Package autostart is the desktop app's opt-in "Start at login", one interface with a
// mechanism per OS:
//
//   - Linux and the BSDs: an XDG autostart entry, a .desktop file in
//     $XDG_CONFIG_HOME/autostart (XDG, xdg.go);
//   - macOS: a LaunchAgent, a plist in ~/Library/LaunchAgents run at login (LaunchAgent,
//     launchagent.go);
//   - Windows: a value under the per-user Run key,
//     HKCU\Software\Microsoft\Windows\CurrentVersion\Run (RunKey, runkey.go; the registry
//     itself is reached only in registry_windows.go).
//
// Each starts the app hidden in the tray (the app passes "--background"). It is off until
// the operator turns it on, and turning it off removes the file or value. The text each
// writes is made by a pure function (Entry, Plist, RunValue) tested against golden files
// on every OS. No Fyne import: plain Go with plain tests.
package autostart

import (
	"fmt"
	"os"
	"runtime"
)

// Autostart is "Start at login" for one command line. Supported is false on a system
// with no mechanism; Enabled and SetEnabled then report nothing useful.
type Autostart interface {
	// Supported reports whether this OS has the mechanism.
	Supported() bool
	// Enabled reports whether the app is set to start at login.
	Enabled() bool
	// SetEnabled turns start at login on (writing the entry for the current command
	// line, replacing an older one) or off (removing it; removing a missing entry is not
	// an error).
	SetEnabled(on bool) error
}

// Label is the app's ID (FyneApp.toml, appID in main.go): the LaunchAgent's label.
const Label = "net.aiassist.pinclient"

// RunValueName is the name of the app's value under the Windows Run key.
const RunValueName = "PIN Client"

// New returns start at login for the running executable, started with args, using this
// OS's mechanism. It fails when the executable or the user's folders are unknown.
func New(args ...string) (Autostart, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("autostart: find the app's executable: %w", err)
	}
	argv := append([]string{exe}, args...)
	switch runtime.GOOS {
	case "darwin":
		dir, err := LaunchAgentsDir()
		if err != nil {
			return nil, err
		}
		return &LaunchAgent{Dir: dir, Label: Label, Exec: argv}, nil
	case "windows":
		return &RunKey{Name: RunValueName, Exec: argv, Values: registryRun{}}, nil
	}
	dir, err := DefaultDir()
	if err != nil {
		return nil, err
	}
	return &XDG{Dir: dir, Exec: argv}, nil
}
