// Package clocale gives Fyne a language under a C locale. Import it for its side
// effect, from the desktop app only.
//
// Fyne asks github.com/jeandeaual/go-locale for the user's language, which reads
// LC_ALL, LC_MESSAGES, LANG and, unless the locale is exactly "C" or "POSIX", LANGUAGE.
// The common container and service default LANG=C.UTF-8 comes back as the tag "C",
// which is not a language, and Fyne logged "Error parsing user locale C" at start and
// again on lookups (tray menu refreshes, font lookups). A C locale means "no language
// chosen", so LANGUAGE=en says the same in words go-locale understands; gettext ignores
// LANGUAGE under a C locale, so programs the app starts are not affected.
//
// Fyne's lang package reads the locale in its own init, before main runs, so this is
// done in an init too. Go initialises ready packages in import-path order (the spec's
// rule since Go 1.21), and fyne.io/fyne/v2/lang depends on golang.org/x/text, whose
// path sorts after this package's: this init always runs first.
package clocale

import (
	"os"
	"strings"
)

func init() {
	if k, v, ok := Fix(os.Getenv); ok {
		_ = os.Setenv(k, v)
	}
}

// Fix is the environment variable to set so that Fyne finds a language, when the
// locale is a C or POSIX one with a codeset ("C.UTF-8") and no LANGUAGE is set.
func Fix(getenv func(string) string) (key, value string, ok bool) {
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
