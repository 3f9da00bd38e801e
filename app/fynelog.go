package app

import (
	"bytes"
	"io"
	"log"
	"sync"
)

// PrepareFyne quiets two Fyne messages that report no problem of the app's. Call it
// once, before the Fyne app is created. (The locale noise is fixed at its source by
// app/internal/clocale, which this package imports.)
//
// Fyne watches its preferences folder and reloads the file on every change. While the
// app shuts down, Fyne runs queued work at once on the watcher's goroutine, so the final
// save's truncate-then-write can be read back empty, and "Preferences load error: EOF"
// was logged on Quit (fyne.io/fyne v2.7.1, app/preferences.go; the values are saved
// fine). That reload cannot be turned off from outside Fyne, so exactly that message is
// dropped from Fyne's log; any other preferences error still shows.
//
// On a desktop without a notification service (a bare window manager, Xvfb), every
// desktop notification made Fyne log a three-line D-Bus error. The first becomes one line
// that says what it means; the repeats are dropped.
func PrepareFyne() {
	log.SetOutput(newFyneLogFilter(log.Writer()))
}

// noNotifier is the line that replaces Fyne's first "no notification service" report.
const noNotifier = "desktop notifications are not shown: no notification service runs in this desktop session (org.freedesktop.Notifications); the dashboard still shows everything\n"

// fyneLogFilter passes the standard logger's lines through, except Fyne's three-line
// reports (held at their first line until the cause shows what they are):
//
//	... Fyne error:  Preferences load error:
//	...   Cause: EOF
//	...   At: .../preferences.go:103
//
//	... Fyne error:  Failed to send message to bus
//	...   Cause: The name org.freedesktop.Notifications was not provided by any .service files
//	...   At: .../app_xdg.go:83
type fyneLogFilter struct {
	mu     sync.Mutex
	out    io.Writer
	held   []byte // the first line of a report waiting for its cause
	drop   int    // lines still to drop of a report being dropped
	warned bool   // noNotifier was written
}

func newFyneLogFilter(out io.Writer) *fyneLogFilter { return &fyneLogFilter{out: out} }

// Write takes one log line (the standard logger writes each line with one call).
func (f *fyneLogFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.drop > 0:
		f.drop--
		return len(p), nil
	case f.held != nil:
		held := f.held
		f.held = nil
		switch {
		case bytes.Contains(held, []byte("Preferences load error:")) && bytes.Contains(p, []byte("  Cause: EOF")):
			f.drop = 1 // the "At:" line
			return len(p), nil
		case bytes.Contains(held, []byte("Failed to send message to bus")) && bytes.Contains(p, []byte("org.freedesktop.Notifications")):
			f.drop = 1
			if f.warned {
				return len(p), nil
			}
			f.warned = true
			if _, err := f.out.Write(logPrefix(held, []byte(noNotifier))); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		if _, err := f.out.Write(held); err != nil {
			return 0, err
		}
	case bytes.Contains(p, []byte("Fyne error:  Preferences load error:")),
		bytes.Contains(p, []byte("Fyne error:  Failed to send message to bus")):
		f.held = bytes.Clone(p)
		return len(p), nil
	}
	return f.out.Write(p)
}

// logPrefix puts msg after the standard logger's prefix (the date and time) of line.
func logPrefix(line, msg []byte) []byte {
	if i := bytes.Index(line, []byte("Fyne error:")); i >= 0 {
		return append(bytes.Clone(line[:i]), msg...)
	}
	return msg
}
