package app

import (
	"bytes"
	"io"
	"log"
	"sync"
)

// PrepareFyne stops a Fyne message that reports no problem. Call it once, before the
// Fyne app is created. (The locale noise is fixed at its source by app/internal/clocale,
// which this package imports.)
//
// Fyne watches its preferences folder and reloads the file on every change. While the
// app shuts down, Fyne runs queued work at once on the watcher's goroutine, so the final
// save's truncate-then-write can be read back empty, and "Preferences load error: EOF"
// was logged on Quit (fyne.io/fyne v2.7.1, app/preferences.go; the values are saved
// fine). That reload cannot be turned off from outside Fyne, so exactly that message is
// dropped from Fyne's log; any other preferences error still shows.
func PrepareFyne() {
	log.SetOutput(newFyneLogFilter(log.Writer()))
}

// fyneLogFilter passes the standard logger's lines through, except Fyne's three-line
// report of a preferences reload that read an empty (half-written) file:
//
//	... Fyne error:  Preferences load error:
//	...   Cause: EOF
//	...   At: .../preferences.go:103
type fyneLogFilter struct {
	mu   sync.Mutex
	out  io.Writer
	held []byte // a "Preferences load error" line waiting for its cause
	drop int    // lines still to drop of a report being dropped
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
		if bytes.Contains(p, []byte("  Cause: EOF")) {
			f.drop = 1 // the "At:" line
			return len(p), nil
		}
		if _, err := f.out.Write(held); err != nil {
			return 0, err
		}
	case bytes.Contains(p, []byte("Fyne error:  Preferences load error:")):
		f.held = bytes.Clone(p)
		return len(p), nil
	}
	return f.out.Write(p)
}
