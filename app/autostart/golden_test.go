package autostart

import (
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// The command lines each OS's entry starts: the app where an installer puts it.
var (
	linuxArgv   = []string{"/opt/PIN Client/usr/local/bin/pin-client", "--background"}
	darwinArgv  = []string{"/Applications/PIN Client.app/Contents/MacOS/pin-client", "--background"}
	windowsArgv = []string{`C:\Program Files\PIN Client\pin-client.exe`, "--background"}
)

func TestGoldenXDG(t *testing.T) {
	golden(t, FileName, Entry(linuxArgv))
}

func TestGoldenLaunchAgent(t *testing.T) {
	golden(t, Label+".plist", Plist(Label, darwinArgv))
}

func TestGoldenRunValue(t *testing.T) {
	golden(t, "run-value.txt", RunValue(windowsArgv)+"\n")
}

// plistArgs parses a plist written by Plist back into its label and ProgramArguments.
func plistArgs(t *testing.T, text string) (label string, argv []string) {
	t.Helper()
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("plist is not well-formed XML: %v\n%s", err, text)
	}
	items := doc.Dict.Items
	for i := 0; i+1 < len(items); i++ {
		if items[i].XMLName.Local != "key" {
			continue
		}
		switch items[i].Text {
		case "Label":
			label = items[i+1].Text
		case "ProgramArguments":
			argv = items[i+1].Strings
		}
	}
	return label, argv
}

func TestPlistRoundTrip(t *testing.T) {
	argv := []string{"/Users/a&b/<PIN> Client.app/Contents/MacOS/pin-client", "--background", `"quoted" 'single' ]]>`}
	label, got := plistArgs(t, Plist("x&y", argv))
	if label != "x&y" || strings.Join(got, "\x00") != strings.Join(argv, "\x00") {
		t.Errorf("parsed back label %q argv %q, want x&y %q", label, got, argv)
	}
	if !strings.Contains(Plist(Label, darwinArgv), "<key>RunAtLoad</key>\n\t<true/>") {
		t.Error("the LaunchAgent must run at load (at login)")
	}
}

func TestLaunchAgentSetEnabled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Library", "LaunchAgents") // does not exist yet
	l := &LaunchAgent{Dir: dir, Label: Label, Exec: darwinArgv}
	if l.Enabled() {
		t.Fatal("enabled before being turned on; start at login must be opt-in")
	}
	if err := l.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	if !l.Enabled() || l.Path() != filepath.Join(dir, "net.aiassist.pinclient.plist") {
		t.Fatalf("after SetEnabled(true): enabled %v, path %s", l.Enabled(), l.Path())
	}
	data, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != Plist(Label, darwinArgv) {
		t.Errorf("file is not Plist's text:\n%s", data)
	}
	for range 2 { // turning off twice is not an error
		if err := l.SetEnabled(false); err != nil {
			t.Fatal(err)
		}
		if l.Enabled() {
			t.Fatal("still enabled after SetEnabled(false)")
		}
	}
	if err := (&LaunchAgent{Dir: dir, Label: Label}).SetEnabled(true); err == nil {
		t.Error("no Exec: want an error")
	}
	if got := (&LaunchAgent{}).Supported(); got != (runtime.GOOS == "darwin") {
		t.Errorf("Supported on %s = %v", runtime.GOOS, got)
	}
}

func TestLaunchAgentsDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	got, err := LaunchAgentsDir()
	if runtime.GOOS != "windows" && (err != nil || got != filepath.Join(home, "Library", "LaunchAgents")) {
		t.Errorf("LaunchAgentsDir = %q, %v", got, err)
	}
}

// splitWindows splits a command line the way CommandLineToArgvW does (the 2008 C runtime
// rules): 2n backslashes before a quote give n and toggle quoting, 2n+1 give n and a
// literal quote, other backslashes are literal; "" inside quotes is a literal quote.
func splitWindows(cmd string) []string {
	var args []string
	var cur strings.Builder
	inArg, inQuotes := false, false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(cmd) && cmd[i] == '\\' {
				n++
				i++
			}
			if i < len(cmd) && cmd[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					inQuotes = !inQuotes
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				i--
			}
			inArg = true
		case c == '"':
			if inQuotes && i+1 < len(cmd) && cmd[i+1] == '"' {
				cur.WriteByte('"')
				i++
			} else {
				inQuotes = !inQuotes
			}
			inArg = true
		case (c == ' ' || c == '\t') && !inQuotes:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

func TestRunValueQuoting(t *testing.T) {
	tests := []struct{ in, want string }{
		{`C:\PIN\pin-client.exe`, `C:\PIN\pin-client.exe`},
		{`C:\Program Files\PIN Client\pin-client.exe`, `"C:\Program Files\PIN Client\pin-client.exe"`},
		{"", `""`},
		{`a"b`, `"a\"b"`},
		{`a\"b`, `"a\\\"b"`},
		{`C:\dir with space\`, `"C:\dir with space\\"`},
		{`100%`, `100%`},
	}
	for _, tt := range tests {
		if got := windowsArg(tt.in); got != tt.want {
			t.Errorf("windowsArg(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// Whatever the arguments, Windows splits the value back into exactly them.
	for _, argv := range [][]string{
		windowsArgv,
		{`C:\Users\Zoë O"Neil\AppData\Local\PIN Client\pin-client.exe`, "--background"},
		{`C:\a b\\`, "", `\\server\share\x.exe`, "\ttab", `"`, `\`, `\\"\\`},
	} {
		if got := splitWindows(RunValue(argv)); strings.Join(got, "\x00") != strings.Join(argv, "\x00") {
			t.Errorf("RunValue(%q) = %s splits back to %q", argv, RunValue(argv), got)
		}
	}
}

// mapRun is a fake Run key; err, when set, fails every call.
type mapRun struct {
	m   map[string]string
	err error
}

func (f *mapRun) Get(name string) (string, bool, error) {
	v, ok := f.m[name]
	return v, ok, f.err
}

func (f *mapRun) Set(name, value string) error {
	if f.err != nil {
		return f.err
	}
	f.m[name] = value
	return nil
}

func (f *mapRun) Delete(name string) error {
	if f.err != nil {
		return f.err
	}
	delete(f.m, name)
	return nil
}

func TestRunKeySetEnabled(t *testing.T) {
	f := &mapRun{m: map[string]string{"Other App": `C:\other.exe`}}
	r := &RunKey{Name: RunValueName, Exec: windowsArgv, Values: f}
	if r.Enabled() {
		t.Fatal("enabled before being turned on; start at login must be opt-in")
	}
	if err := r.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	if !r.Enabled() || f.m[RunValueName] != RunValue(windowsArgv) {
		t.Fatalf("after SetEnabled(true): enabled %v, values %q", r.Enabled(), f.m)
	}
	r.Exec = []string{`D:\moved\pin-client.exe`, "--background"} // the app moved: on again rewrites
	if err := r.SetEnabled(true); err != nil || f.m[RunValueName] != `D:\moved\pin-client.exe --background` {
		t.Fatalf("rewrite: %v, %q", err, f.m[RunValueName])
	}
	for range 2 {
		if err := r.SetEnabled(false); err != nil {
			t.Fatal(err)
		}
		if r.Enabled() {
			t.Fatal("still enabled after SetEnabled(false)")
		}
	}
	if f.m["Other App"] != `C:\other.exe` {
		t.Error("another app's value was touched")
	}

	f.err = errors.New("access denied")
	if r.Enabled() {
		t.Error("a registry error must read as off")
	}
	for _, on := range []bool{true, false} {
		err := r.SetEnabled(on)
		if err == nil || !strings.Contains(err.Error(), "start at login: access denied") {
			t.Errorf("SetEnabled(%v) with a failing registry: %v", on, err)
		}
	}
	if err := (&RunKey{Name: RunValueName, Values: &mapRun{m: map[string]string{}}}).SetEnabled(true); err == nil {
		t.Error("no Exec: want an error")
	}
	if got := (&RunKey{}).Supported(); got != (runtime.GOOS == "windows") {
		t.Errorf("Supported on %s = %v", runtime.GOOS, got)
	}
}

func TestNew(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))
	a, err := New("--background")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Supported() {
		t.Fatalf("New on %s: %T is not supported here", runtime.GOOS, a)
	}
	switch a := a.(type) {
	case *XDG:
		if runtime.GOOS == "darwin" || runtime.GOOS == "windows" || a.Dir != filepath.Join(home, "xdg", "autostart") {
			t.Errorf("XDG on %s in %s", runtime.GOOS, a.Dir)
		}
		if len(a.Exec) != 2 || a.Exec[1] != "--background" {
			t.Errorf("Exec = %q", a.Exec)
		}
	case *LaunchAgent:
		if a.Dir != filepath.Join(home, "Library", "LaunchAgents") || a.Label != Label {
			t.Errorf("LaunchAgent %+v", a)
		}
	case *RunKey:
		if a.Name != RunValueName {
			t.Errorf("RunKey %+v", a)
		}
	default:
		t.Errorf("New returned %T", a)
	}
}

func TestRegistryOutsideWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the real registry is not touched by tests")
	}
	r := &RunKey{Name: RunValueName, Exec: windowsArgv, Values: registryRun{}}
	if r.Enabled() {
		t.Error("enabled without a registry")
	}
	if err := r.SetEnabled(true); err == nil || !strings.Contains(err.Error(), "only on Windows") {
		t.Errorf("SetEnabled without a registry: %v", err)
	}
}

// Command lines with the arguments the elevated service install passes (a config path
// with spaces, a temp file, a UNC path) split back into the same words.
func TestWindowsCommandLine(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                    `plain`,
		`C:\Users\ann\config.json`: `C:\Users\ann\config.json`,
		`C:\Users\Ann Lee\PIN Client\config.json`: `"C:\Users\Ann Lee\PIN Client\config.json"`,
		``:                `""`,
		`say "hi"`:        `"say \"hi\""`,
		`dir with space\`: `"dir with space\\"`,
		`a\"b`:            `"a\\\"b"`,
		"tab\there":       "\"tab\there\"",
	} {
		if got := windowsArg(in); got != want {
			t.Errorf("windowsArg(%q) = %s, want %s", in, got, want)
		}
	}
	words := []string{"service", "install", "-c", `C:\Users\Ann Lee\AppData\Roaming\PIN Client\config.json`, "", `q"u"o\te`,
		`trailing\\`, `x \\" y`, "-n", "4", "--start", "--output", `C:\Users\Ann Lee\AppData\Local\Temp\pin-clientd-1.txt`, `\\server\share\a b\`}
	line := RunValue(words)
	if got := splitWindows(line); strings.Join(got, "\x00") != strings.Join(words, "\x00") {
		t.Errorf("%s splits into\n%q, want\n%q", line, got, words)
	}
}
