package app

import (
	"bytes"
	"io"
	"log"
	"os"
	"strings"
	"sync"
)

// PrepareFyne fixes two kinds of noise Fyne prints to stderr, at their source where the
// app can. Call it once, before the Fyne app is created.
//
//   - Locale: Fyne asks github.com/jeandeaual/go-locale for the user's language, which
//     reads LC_ALL, LC_MESSAGES, LANG and, unless the locale is exactly "C" or "POSIX",
//     LANGUAGE. The common container and service default LANG=C.UTF-8 comes back as the
//     tag "C", which is not a language, and every lookup (each tray menu refresh, each
//     font lookup) logged "Error parsing user locale C". A C locale means "no language
//     chosen", so LANGUAGE=en says the same in words go-locale understands; gettext
//     ignores LANGUAGE under a C locale, so programs the app starts are not affected.
//   - Preferences: Fyne watches its preferences folder and reloads the file on every
//     change. While the app shuts down, its queued work runs at once on the watcher's
//     goroutine, so the final save's truncate-then-write is read back half written and
//     "Preferences load error: EOF" was logged on every Quit (fyne.io/fyne v2.7.1,
//     app/preferences.go; the values were saved fine). That reload cannot be turned
//     off from outside Fyne, so exactly that message is dropped from Fyne's log.
func PrepareFyne() {
	if k, v, ok := localeFix(os.Getenv); ok {
		_ = os.Setenv(k, v)
	}
	log.SetOutput(newFyneLogFilter(log.Writer()))
}

// localeFix is the environment variable to set so that Fyne finds a language, when the
// locale is a C or POSIX one with a codeset ("C.UTF-8") and no LANGUAGE is set.
func localeFix(getenv func(string) string) (key, value string, ok bool) {
	loc := ""
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if loc = getenv(k); loc != "" {
			break
		}
	}
	if getenv("LANGUAGE") != "" {
		return "", "", false
	}
	base, _, _ := strings.Cut(loc, ".")
	base, _, _ = strings.Cut(base, "@")
	if (base == "C" || base == "POSIX") && loc != base {
		return "LANGUAGE", "en", true
	}
	return "", "", false
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
