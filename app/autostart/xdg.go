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

// FileName is the autostart entry's name inside the autostart folder.
const FileName = "pin-client.desktop"

// XDG is start at login on Linux and the BSDs: an XDG autostart entry in Dir. The zero
// value is not usable: use New, or set Dir and Exec.
type XDG struct {
	Dir  string   // the autostart folder, e.g. ~/.config/autostart
	Exec []string // the command line to start: the app's path and its arguments
}

// DefaultDir is $XDG_CONFIG_HOME/autostart, or ~/.config/autostart.
func DefaultDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("autostart: %w", err)
	}
	return filepath.Join(base, "autostart"), nil
}

// Supported reports whether this OS uses XDG autostart entries: Linux and the BSDs.
func (x *XDG) Supported() bool {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		return true
	}
	return false
}

func (x *XDG) path() string { return filepath.Join(x.Dir, FileName) }

// Enabled reports whether the entry exists.
func (x *XDG) Enabled() bool {
	_, err := os.Stat(x.path())
	return err == nil
}

// SetEnabled writes the entry (on) or removes it (off). Removing a missing entry is
// not an error.
func (x *XDG) SetEnabled(on bool) error {
	if !on {
		if err := os.Remove(x.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("turn off start at login: %w", err)
		}
		return nil
	}
	if len(x.Exec) == 0 {
		return errors.New("turn on start at login: no command to start")
	}
	if err := os.MkdirAll(x.Dir, 0o755); err != nil {
		return fmt.Errorf("turn on start at login: %w", err)
	}
	if err := os.WriteFile(x.path(), []byte(Entry(x.Exec)), 0o644); err != nil {
		return fmt.Errorf("turn on start at login: %w", err)
	}
	return nil
}

// Entry is the .desktop file content that runs argv.
func Entry(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = quoteArg(a)
	}
	return "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=PIN Client\n" +
		"Comment=Serve local LLMs on the PIN network (starts hidden in the tray)\n" +
		"Exec=" + strings.Join(quoted, " ") + "\n" +
		"Icon=net.aiassist.pinclient\n" + // the icon `fyne package` installs (FyneApp.toml ID)
		"Terminal=false\n" +
		"X-GNOME-Autostart-enabled=true\n"
}

// quoteArg quotes one Exec argument per the Desktop Entry spec: arguments with
// reserved characters go in double quotes, with ", `, $ and \ backslash-escaped; a
// literal % is written %%. The value is then escaped once more for the key's string
// type (a backslash doubles).
func quoteArg(a string) string {
	a = strings.ReplaceAll(a, "%", "%%")
	if a != "" && !strings.ContainsAny(a, " \t\n\"'\\><~|&;$*?#()`=") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range a {
		switch r {
		case '"', '`', '$', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return strings.ReplaceAll(b.String(), `\`, `\\`)
}
