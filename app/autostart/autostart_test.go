package autostart

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestSetEnabled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "autostart") // does not exist yet
	x := &XDG{Dir: dir, Exec: []string{"/opt/PIN Client/pin-client", "--background"}}
	if x.Enabled() {
		t.Fatal("enabled before being turned on; start at login must be opt-in")
	}
	if err := x.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	if !x.Enabled() {
		t.Fatal("not enabled after SetEnabled(true)")
	}
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `Exec="/opt/PIN Client/pin-client" --background`+"\n") {
		t.Errorf("entry:\n%s", data)
	}
	if err := x.SetEnabled(false); err != nil {
		t.Fatal(err)
	}
	if x.Enabled() {
		t.Fatal("still enabled after SetEnabled(false)")
	}
	if err := x.SetEnabled(false); err != nil {
		t.Errorf("turning off twice: %v", err)
	}
}

func TestSetEnabledErrors(t *testing.T) {
	if err := (&XDG{Dir: t.TempDir()}).SetEnabled(true); err == nil {
		t.Error("no Exec: want an error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := (&XDG{Dir: filepath.Join(file, "autostart"), Exec: []string{"x"}}).SetEnabled(true)
	if err == nil || !strings.HasPrefix(err.Error(), "turn on start at login: ") {
		t.Errorf("folder under a file: err = %v", err)
	}
}

func TestQuoteArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/bin/pin-client", "/usr/bin/pin-client"},
		{"--background", "--background"},
		{"/opt/My App/x", `"/opt/My App/x"`},
		{`a"b`, `"a\\"b"`},
		{"$HOME", `"\\$HOME"`},
		{`c:\x`, `"c:\\\\x"`},
		{"100%", "100%%"},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := quoteArg(tt.in); got != tt.want {
			t.Errorf("quoteArg(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/tmp/xdg-test")
	got, err := DefaultDir()
	if runtime.GOOS == "linux" && (err != nil || got != "/tmp/xdg-test/autostart") {
		t.Errorf("DefaultDir = %q, %v", got, err)
	}
	if runtime.GOOS == "linux" && !(&XDG{}).Supported() {
		t.Error("Linux must be supported")
	}
}
