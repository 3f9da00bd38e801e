package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// LaunchAgent is start at login on macOS: a per-user launchd agent, the plist
// Dir/Label.plist, which launchd loads at the user's next login and, with RunAtLoad, runs
// at once. Turning it on does not start the app now (it is already running) and does not
// call launchctl: the file alone takes effect at the next login. The zero value is not
// usable: use New, or set Dir, Label and Exec.
type LaunchAgent struct {
	Dir   string   // the LaunchAgents folder, ~/Library/LaunchAgents
	Label string   // the job's label and file name, e.g. Label
	Exec  []string // the command line: the executable inside the .app bundle and its arguments
}

// LaunchAgentsDir is ~/Library/LaunchAgents.
func LaunchAgentsDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("autostart: %w", err)
	}
	return filepath.Join(home, "Library", "LaunchAgents"), nil
}

// Supported reports whether this is macOS.
func (l *LaunchAgent) Supported() bool { return runtime.GOOS == "darwin" }

// Path is the plist's path.
func (l *LaunchAgent) Path() string { return filepath.Join(l.Dir, l.Label+".plist") }

// Enabled reports whether the plist exists.
func (l *LaunchAgent) Enabled() bool {
	_, err := os.Stat(l.Path())
	return err == nil
}

// SetEnabled writes the plist (on) or removes it (off). Removing a missing plist is not
// an error.
func (l *LaunchAgent) SetEnabled(on bool) error {
	if !on {
		if err := os.Remove(l.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("turn off start at login: %w", err)
		}
		return nil
	}
	if len(l.Exec) == 0 || l.Label == "" {
		return errors.New("turn on start at login: no command or label to start")
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return fmt.Errorf("turn on start at login: %w", err)
	}
	if err := os.WriteFile(l.Path(), []byte(Plist(l.Label, l.Exec)), 0o644); err != nil {
		return fmt.Errorf("turn on start at login: %w", err)
	}
	return nil
}

// Plist is the LaunchAgent that runs argv once at login: RunAtLoad, no KeepAlive (quitting
// the app is not a failure to restart), only in a graphical (Aqua) login session, with
// the scheduling of an interactive app.
func Plist(label string, argv []string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + xmlText(label) + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range argv {
		b.WriteString("\t\t<string>" + xmlText(a) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>LimitLoadToSessionType</key>
	<string>Aqua</string>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`)
	return b.String()
}

// xmlText escapes s for XML character data.
func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
