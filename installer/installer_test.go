package installer

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/kardianos/service"
)

var update = flag.Bool("update", false, "rewrite the golden files")

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

// fakeSystemctl puts a systemctl first on PATH that appends its arguments to a log and
// prints $FAKE_SYSTEMCTL_OUT (exiting with $FAKE_SYSTEMCTL_RC).
func fakeSystemctl(t *testing.T) (calls func() []string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake systemctl is a shell script")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\nprintf '%s' \"$FAKE_SYSTEMCTL_OUT\"\nexit ${FAKE_SYSTEMCTL_RC:-0}\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_SYSTEMCTL_OUT", "")
	t.Setenv("FAKE_SYSTEMCTL_RC", "0")
	return func() []string {
		data, _ := os.ReadFile(log)
		os.Remove(log)
		s := strings.TrimSpace(string(data))
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
}

func testOptions(user bool, home string) Options {
	return Options{
		Name:             "pin-clientd",
		DisplayName:      "PIN Client",
		Description:      "PIN Client relay daemon (pin-clientd)",
		User:             user,
		Executable:       "/opt/pin client/pin-clientd",
		Arguments:        []string{"service", "run", "-c", "/opt/pin client/config.json", "-n", "2", "--grace", "10s"},
		WorkingDirectory: "/opt/pin client",
		Env:              map[string]string{"PIN_SECRET_FILE": "/etc/pin-client/pin-clientd.secret"},
		StopTimeout:      15e9,
		Home:             home,
		Getenv:           func(string) string { return "" },
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// systemOptions are what `pin-clientd service install` passes for the system unit: the
// config and the secret as credentials, no working directory in /home.
func systemOptions() Options {
	o := testOptions(false, "")
	o.Arguments = []string{"service", "run", "-n", "2", "--grace", "10s"}
	o.RawArguments = []string{"-c", "%d/config.json"}
	o.WorkingDirectory = ""
	o.Env = nil
	o.Credentials = []Credential{{"config.json", "/opt/pin client/config.json"}, {"pin-api-secret", "/etc/pin-client/pin-clientd.secret"}}
	return o
}

func TestSystemdSystemUnit(t *testing.T) {
	calls := fakeSystemctl(t)
	o := systemOptions()
	o.Root = t.TempDir()
	m, err := New(o)
	if runtime.GOOS != "linux" {
		m, err = newSystemd(o)
	}
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(o.Root, "etc", "systemd", "system", "pin-clientd.service")
	if m.Path() != wantPath || m.Platform() != "systemd (system)" {
		t.Fatalf("path %s platform %s", m.Path(), m.Platform())
	}
	if st, err := m.Status(); st != StatusNotInstalled || err != nil {
		t.Errorf("status before install: %v %v", st, err)
	}
	if err := m.Start(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("start before install: %v", err)
	}
	if err := m.Install(); err != nil {
		t.Fatal(err)
	}
	equal(t, "install calls", calls(), []string{"daemon-reload", "enable pin-clientd.service"})
	unit, err := os.ReadFile(wantPath)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "pin-clientd.system.service", string(unit))
	if err := m.Install(); !errors.Is(err, ErrInstalled) {
		t.Errorf("second install: %v", err)
	}
	calls()

	for _, tc := range []struct {
		out  string
		rc   string
		want Status
	}{{"active\n", "0", StatusRunning}, {"inactive\n", "3", StatusStopped}, {"failed\n", "3", StatusFailed}, {"activating\n", "3", StatusRunning}} {
		t.Setenv("FAKE_SYSTEMCTL_OUT", tc.out)
		t.Setenv("FAKE_SYSTEMCTL_RC", tc.rc)
		if st, err := m.Status(); st != tc.want || err != nil {
			t.Errorf("is-active %q: %v %v", tc.out, st, err)
		}
	}
	t.Setenv("FAKE_SYSTEMCTL_OUT", "")
	t.Setenv("FAKE_SYSTEMCTL_RC", "1")
	if st, err := m.Status(); st != StatusUnknown || err == nil {
		t.Errorf("silent failure: %v %v", st, err)
	}
	t.Setenv("FAKE_SYSTEMCTL_OUT", "Failed to connect to bus: No such file or directory")
	if err := m.Start(); err == nil || !strings.Contains(err.Error(), "Failed to connect to bus") {
		t.Errorf("systemctl error not surfaced: %v", err)
	}
	t.Setenv("FAKE_SYSTEMCTL_OUT", "")
	t.Setenv("FAKE_SYSTEMCTL_RC", "0")
	calls()
	m.Start()
	m.Stop()
	m.Restart()
	equal(t, "control calls", calls(), []string{"start pin-clientd.service", "stop pin-clientd.service", "restart pin-clientd.service"})

	if err := m.Uninstall(); err != nil {
		t.Fatal(err)
	}
	equal(t, "uninstall calls", calls(), []string{"stop pin-clientd.service", "disable pin-clientd.service", "daemon-reload", "reset-failed pin-clientd.service"})
	if _, err := os.Stat(wantPath); !os.IsNotExist(err) {
		t.Error("unit file left behind")
	}
	if err := m.Uninstall(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall: %v", err)
	}
}

func TestSystemdUserUnit(t *testing.T) {
	calls := fakeSystemctl(t)
	home := t.TempDir()
	o := testOptions(true, home)
	o.Env = nil
	m, err := newSystemd(o)
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(home, ".config", "systemd", "user", "pin-clientd.service")
	if m.Path() != wantPath || m.Platform() != "systemd --user" {
		t.Fatalf("path %s platform %s", m.Path(), m.Platform())
	}
	if err := m.Install(); err != nil {
		t.Fatal(err)
	}
	equal(t, "install calls", calls(), []string{"--user daemon-reload", "--user enable pin-clientd.service"})
	unit, _ := os.ReadFile(wantPath)
	golden(t, "pin-clientd.user.service", string(unit))
	if !strings.Contains(string(unit), "WantedBy=default.target") {
		t.Error("user unit not wanted by default.target")
	}
	m.Start()
	equal(t, "start", calls(), []string{"--user start pin-clientd.service"})
	if err := m.Uninstall(); err != nil {
		t.Fatal(err)
	}
	equal(t, "uninstall calls", calls(), []string{"--user stop pin-clientd.service", "--user disable pin-clientd.service", "--user daemon-reload", "--user reset-failed pin-clientd.service"})

	// XDG_CONFIG_HOME wins over HOME, as for systemd itself.
	o.Getenv = func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return "/xdg"
		}
		return ""
	}
	m, _ = newSystemd(o)
	if m.Path() != filepath.Join("/xdg", "systemd", "user", "pin-clientd.service") {
		t.Errorf("XDG path %s", m.Path())
	}
}

func TestSystemdInstallFailures(t *testing.T) {
	fakeSystemctl(t)
	o := testOptions(false, "")
	o.Root = t.TempDir()
	m, _ := newSystemd(o)
	t.Setenv("FAKE_SYSTEMCTL_RC", "1")
	t.Setenv("FAKE_SYSTEMCTL_OUT", "Access denied")
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "systemctl daemon-reload") || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("install with failing systemctl: %v", err)
	}
	// A root we cannot write to gives the OS error, not a panic.
	o.Root = filepath.Join(t.TempDir(), "file")
	os.WriteFile(o.Root, nil, 0o644)
	m, _ = newSystemd(o)
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "write unit") {
		t.Errorf("unwritable root: %v", err)
	}
	if _, err := newSystemd(Options{}); err == nil {
		t.Error("empty name accepted")
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/pin-clientd": "/usr/bin/pin-clientd",
		"/opt/my dir/x":        `"/opt/my dir/x"`,
		`a"b`:                  `"a\"b"`,
		"100%":                 "100%%",
		"$HOME":                "$$HOME",
		"":                     `""`,
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := envQuote("A=$x y"); got != `"A=$x y"` {
		t.Errorf("envQuote = %s", got)
	}
}

// kardianosLaunchdData mirrors the data kardianos' darwin backend executes the
// LaunchdConfig template with (service_darwin.go, Install), so the plist can be
// checked on any OS.
type kardianosLaunchdData struct {
	*service.Config
	Path string

	KeepAlive, RunAtLoad bool
	SessionCreate        bool
	StandardOutPath      string
	StandardErrorPath    string
}

// The log paths come from the config the code builds, the way kardianos derives them
// (service_darwin.go, logDir): Option "LogDirectory", else /var/log for a daemon, else
// the home folder for an agent.
func renderPlist(t *testing.T, o Options) string {
	t.Helper()
	c := kardianosConfig(&o, "darwin")
	logDir, _ := c.Option["LogDirectory"].(string)
	switch {
	case logDir != "":
	case c.Option["UserService"] == true:
		logDir = o.Home
	default:
		logDir = "/var/log"
	}
	tmpl := c.Option["LaunchdConfig"].(string)
	funcs := template.FuncMap{"bool": func(v bool) string { return map[bool]string{true: "true", false: "false"}[v] }}
	var b strings.Builder
	err := template.Must(template.New("").Funcs(funcs).Parse(tmpl)).Execute(&b, &kardianosLaunchdData{
		Config: c, Path: c.Executable, RunAtLoad: true, KeepAlive: true,
		StandardOutPath:   logDir + "/" + c.Name + ".out.log",
		StandardErrorPath: logDir + "/" + c.Name + ".err.log",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLaunchdPlist(t *testing.T) {
	o := testOptions(false, "")
	golden(t, "pin-clientd.daemon.plist", renderPlist(t, o))
	u := testOptions(true, "/Users/op")
	u.Env = nil
	c := kardianosConfig(&u, "darwin")
	if c.Option["UserService"] != true || c.Option["LogDirectory"] != "/Users/op/Library/Logs" {
		t.Errorf("agent options %v", c.Option)
	}
	golden(t, "pin-clientd.agent.plist", renderPlist(t, u))
}

func TestWindowsConfig(t *testing.T) {
	o := testOptions(false, "")
	c := kardianosConfig(&o, "windows")
	if c.Option["OnFailure"] != "restart" || c.Option["OnFailureDelayDuration"] != "10s" || c.Option["DelayedAutoStart"] != true ||
		strings.Join(c.Dependencies, ",") != "Tcpip,Dnscache" || c.EnvVars["PIN_SECRET_FILE"] == "" ||
		c.Executable != o.Executable || strings.Join(c.Arguments, " ") != strings.Join(o.Arguments, " ") {
		t.Errorf("windows config %+v", c)
	}
	if _, ok := c.Option["LaunchdConfig"]; ok {
		t.Error("launchd option on windows")
	}
}

func TestStatusNames(t *testing.T) {
	for st, want := range map[Status]string{StatusRunning: "running", StatusNotInstalled: "not installed", Status(99): "unknown"} {
		if st.String() != want {
			t.Errorf("%d: %s", st, st)
		}
	}
	o := Options{}
	if o.managerDeadline() != 20 {
		t.Errorf("default deadline %d", o.managerDeadline())
	}
}

// TestSystemdAnalyze checks both units with the real systemd-analyze when it is
// installed: `verify` must accept them, and `security --offline=true` must rate the
// system unit "OK" or better (exposure ≤ 2.0; it was 9.2 "UNSAFE" as root) and the user
// unit no worse than 7.0 (a user manager cannot build mount namespaces; 9.6 before).
func TestSystemdAnalyze(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "pin-clientd")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	runtimeDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user bool
		max  float64
	}{{false, 2.0}, {true, 7.0}} {
		o := systemOptions()
		if tc.user {
			o = testOptions(true, dir)
			o.Env = nil
		}
		o.Executable = exe
		text, err := renderSystemdUnit(&o)
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprint(tc.user))
		os.Mkdir(sub, 0o755)
		path := filepath.Join(sub, "pin-clientd.service")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		analyze := func(args ...string) (string, error) {
			if tc.user {
				args = append([]string{"--user"}, args...)
			}
			cmd := exec.Command("systemd-analyze", append(args, path)...)
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0")
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := analyze("verify"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("user=%v: systemd-analyze verify: %v\n%s", tc.user, err, out)
		}
		out, err := analyze("security", "--offline=true")
		if err != nil {
			t.Fatalf("user=%v: systemd-analyze security: %v\n%s", tc.user, err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("user=%v: no exposure level in:\n%s", tc.user, out)
		}
		level, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("user=%v: exposure %.1f", tc.user, level)
		if level > tc.max {
			t.Errorf("user=%v: exposure %.1f, want at most %.1f:\n%s", tc.user, level, tc.max, out)
		}
	}
}
