package autostart

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// RunKeyPath is the per-user Run key, under HKEY_CURRENT_USER: Windows runs each of its
// values' command lines when the user logs in.
const RunKeyPath = `Software\Microsoft\Windows\CurrentVersion\Run`

// RunValues is the Run key's values. Get's ok is false (and err nil) for a missing value;
// Delete of a missing value is not an error. The real one (registryRun) exists on
// Windows; elsewhere its methods fail.
type RunValues interface {
	Get(name string) (value string, ok bool, err error)
	Set(name, value string) error
	Delete(name string) error
}

// RunKey is start at login on Windows: the value Name under the per-user Run key, whose
// data is the command line Exec. The zero value is not usable: use New, or set Name,
// Exec and Values.
type RunKey struct {
	Name   string    // the value's name, e.g. RunValueName
	Exec   []string  // the command line: the app's .exe and its arguments
	Values RunValues // the Run key
}

// Supported reports whether this is Windows.
func (r *RunKey) Supported() bool { return runtime.GOOS == "windows" }

// Enabled reports whether the value exists (a registry error reads as off).
func (r *RunKey) Enabled() bool {
	_, ok, err := r.Values.Get(r.Name)
	return ok && err == nil
}

// SetEnabled writes the value (on) or deletes it (off).
func (r *RunKey) SetEnabled(on bool) error {
	if !on {
		if err := r.Values.Delete(r.Name); err != nil {
			return fmt.Errorf("turn off start at login: %w", err)
		}
		return nil
	}
	if len(r.Exec) == 0 || r.Name == "" {
		return errors.New("turn on start at login: no command or value name to start")
	}
	if err := r.Values.Set(r.Name, RunValue(r.Exec)); err != nil {
		return fmt.Errorf("turn on start at login: %w", err)
	}
	return nil
}

// RunValue is the Run value's data, and any Windows command line the app builds (the
// elevated `pin-clientd service install`): argv as one line, each argument quoted the
// way CommandLineToArgvW and the C runtime split it back (the rules of
// syscall.EscapeArg): an argument with whitespace or a quote (or an empty one) goes in
// double quotes, a quote inside is written \", and backslashes are doubled only where
// they precede a quote.
func RunValue(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = windowsArg(a)
	}
	return strings.Join(quoted, " ")
}

func windowsArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\n\v\"") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1)) // double the run, escape the quote
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes)) // a final run precedes the closing quote
	b.WriteByte('"')
	return b.String()
}
