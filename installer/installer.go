// Package installer installs a program as an OS service and runs it under the service
// manager, on top of github.com/kardianos/service. It knows nothing of the relay
// engine: the service side takes a func(ctx) error (Runner.Run), the install side a
// command line (Options).
//
// Backends:
//   - Linux: systemd only, system units (/etc/systemd/system) or user units
//     (~/.config/systemd/user, WantedBy=default.target), written and driven with
//     systemctl by this package. kardianos' Linux install code is not used: it hard-codes
//     /etc/systemd/system (untestable without root), enables before daemon-reload, and
//     falls back to SysV init scripts that leave rc.d links behind on uninstall.
//   - macOS: kardianos' launchd backend (LaunchDaemon, or LaunchAgent for a user
//     service) with this package's plist template.
//   - Windows: kardianos' service manager backend (a LocalSystem service; user services
//     do not exist there). Restart on failure after 10 s, delayed automatic start.
//
// Units wait for the network, restart on failure after 10 s, and give the program
// Options.StopTimeout to drain before the manager kills it.
package installer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Status is a service's state as the service manager reports it.
type Status int

const (
	StatusUnknown Status = iota
	StatusNotInstalled
	StatusStopped
	StatusRunning
	StatusFailed
)

var statusNames = [...]string{"unknown", "not installed", "stopped", "running", "failed"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

var (
	// ErrNotInstalled: the service is not installed (Uninstall, Start, Stop...).
	ErrNotInstalled = errors.New("the service is not installed")
	// ErrInstalled: Install found the service already installed.
	ErrInstalled = errors.New("the service is already installed")
	// ErrUserUnsupported: user services do not exist on this OS (Windows).
	ErrUserUnsupported = errors.New("user services are not supported on this OS; install a system service (as Administrator)")
)

// RestartDelay is how long the service manager waits before restarting a failed service.
const RestartDelay = 10 * time.Second

// DefaultStopTimeout is Options.StopTimeout when zero.
const DefaultStopTimeout = 15 * time.Second

// Options describe the service to install.
type Options struct {
	Name        string // service/unit name, e.g. "pin-clientd"
	DisplayName string
	Description string
	// User installs a per-user service (systemd --user, LaunchAgent) instead of a system one.
	User bool
	// Executable is the absolute path of the program; Arguments follow it.
	Executable string
	Arguments  []string
	// WorkingDirectory of the service; "" leaves the manager's default.
	WorkingDirectory string
	// Env is set in the service's environment.
	Env map[string]string
	// RawArguments follow Arguments in a systemd ExecStart verbatim, so they may use
	// specifiers such as %d (the credentials directory); the caller quotes them. Other
	// platforms append them like Arguments.
	RawArguments []string
	// Credentials are systemd credentials of the system unit (LoadCredential=NAME:PATH):
	// systemd reads PATH as root before the sandbox is set up and gives the service an
	// owner-only copy in $CREDENTIALS_DIRECTORY/NAME. Ignored by other platforms.
	Credentials []Credential
	// StopTimeout is how long the program may take to stop once asked (its drain). The
	// manager's own kill deadline is set RestartDelay/2 above it. 0: DefaultStopTimeout.
	StopTimeout time.Duration

	// Root prefixes the system paths written (the system unit); "" is "/". For tests.
	Root string
	// Home is the user's home for user units; "": the current user's home.
	Home string
	// Getenv reads XDG_CONFIG_HOME for user units; nil: os.Getenv.
	Getenv func(string) string
	// Systemctl is the systemctl command; "": "systemctl" from PATH.
	Systemctl string
}

// Credential is one systemd credential: Name in $CREDENTIALS_DIRECTORY, read from Path.
type Credential struct{ Name, Path string }

func (o *Options) stopTimeout() time.Duration {
	if o.StopTimeout > 0 {
		return o.StopTimeout
	}
	return DefaultStopTimeout
}

// managerDeadline is the service manager's kill deadline: the program's stop time plus
// a margin, in whole seconds.
func (o *Options) managerDeadline() int {
	return int((o.stopTimeout() + RestartDelay/2 + time.Second - 1) / time.Second)
}

// Manager installs and controls one service.
type Manager interface {
	// Install writes and registers the service (enabled at boot or login, not started).
	// ErrInstalled when it already is.
	Install() error
	// Uninstall stops, unregisters and removes the service. ErrNotInstalled when absent.
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (Status, error)
	// Installed reports whether the service is installed, without asking for its state.
	Installed() bool
	// Path is where the unit file or plist lives ("" for a Windows service).
	Path() string
	// Platform names the backend, e.g. "systemd (system)", "systemd --user".
	Platform() string
}

// systemdQuote quotes one ExecStart word for systemd: plain words stay as they are,
// others get double quotes with \ and " escaped. % is doubled so systemd does not read a
// specifier, and $ too, since ExecStart expands variables.
func systemdQuote(s string) string {
	return quoteWord(strings.ReplaceAll(s, "$", "$$"))
}

// envQuote quotes one KEY=value for Environment= (specifiers expanded, no variables).
func envQuote(s string) string { return quoteWord(s) }

func quoteWord(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s) + `"`
}

type unitData struct {
	Description      string
	ExecStart        string
	WorkingDirectory string
	Env              []string // KEY=value, sorted, quoted for systemd
	TimeoutStopSec   int
	RestartSec       int
	User             bool     // a systemd --user unit
	Credentials      []string // NAME:PATH, system unit only
	Name             string   // the unit's name: StateDirectory and RuntimeDirectory
}

// systemdUnit is both units. The system unit starts at boot after the network is up;
// the user unit hooks into default.target (user managers have no multi-user.target) to
// start at login, or at boot with lingering. Both send SIGTERM to the main process only
// (KillMode=mixed) so it can drain, then SIGKILL to everything left at TimeoutStopSec.
//
// The system unit runs sandboxed as a dynamic user (issue 11 #12; README, "Running as a
// service"): no root, no capabilities, a read-only view of the system with /home hidden,
// its own state (/var/lib/NAME: the engine lock) and runtime (/run/NAME: the control
// socket) directories, the group pin-client (a static group of that name, if the admin
// creates one, gives its members the control socket), only IPv4/IPv6/Unix sockets (the
// gateway, the backends, the control API) and the @system-service system calls. Its
// config and secret come as systemd credentials, so root-only files in any folder work.
// The user unit keeps what a user manager can enforce without privileges: the seccomp-
// and prctl-based settings (no mount namespaces).
const systemdUnit = `[Unit]
Description={{.Description}}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={{.ExecStart}}
{{- if .WorkingDirectory}}
WorkingDirectory={{.WorkingDirectory}}
{{- end}}
{{- range .Env}}
Environment={{.}}
{{- end}}
Restart=on-failure
RestartSec={{.RestartSec}}
KillMode=mixed
TimeoutStopSec={{.TimeoutStopSec}}
{{- if not .User}}
{{- range .Credentials}}
LoadCredential={{.}}
{{- end}}
DynamicUser=yes
Group=pin-client
StateDirectory={{.Name}}
StateDirectoryMode=0750
RuntimeDirectory={{.Name}}
RuntimeDirectoryMode=0750
UMask=0027
CapabilityBoundingSet=
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
PrivateUsers=yes
PrivateIPC=yes
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
KeyringMode=private
RemoveIPC=yes
{{- else}}
UMask=0077
NoNewPrivileges=yes
{{- end}}
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM

[Install]
WantedBy={{if .User}}default.target{{else}}multi-user.target{{end}}
`

// renderSystemdUnit renders the system or user unit for o.
func renderSystemdUnit(o *Options) (string, error) {
	words := []string{systemdQuote(o.Executable)}
	for _, a := range o.Arguments {
		words = append(words, systemdQuote(a))
	}
	words = append(words, o.RawArguments...)
	var creds []string
	for _, c := range o.Credentials {
		if c.Name == "" || strings.ContainsAny(c.Name, ":/\n") || strings.ContainsAny(c.Path, "\n") || !strings.HasPrefix(c.Path, "/") {
			return "", fmt.Errorf("credential %q from %q: want a plain name and an absolute path", c.Name, c.Path)
		}
		creds = append(creds, c.Name+":"+strings.ReplaceAll(c.Path, "%", "%%"))
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		env = append(env, envQuote(k+"="+o.Env[k]))
	}
	d := unitData{
		Description:      strings.ReplaceAll(o.Description, "\n", " "),
		ExecStart:        strings.Join(words, " "),
		WorkingDirectory: strings.ReplaceAll(o.WorkingDirectory, "%", "%%"), // the rest of the line, no quotes
		Env:              env,
		TimeoutStopSec:   o.managerDeadline(),
		RestartSec:       int(RestartDelay / time.Second),
		User:             o.User,
		Credentials:      creds,
		Name:             o.Name,
	}
	var b strings.Builder
	if err := template.Must(template.New("unit").Parse(systemdUnit)).Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// launchdPlist is given to kardianos as its "LaunchdConfig" option and rendered by it
// with its own data (Name, Path, Config.Arguments, EnvVars, WorkingDirectory,
// StandardOutPath, StandardErrorPath; funcs: html, bool). It differs from kardianos'
// default in restarting only after a failure (KeepAlive/SuccessfulExit=false) with a
// 10 s throttle, and in giving the program time to drain (ExitTimeOut) before SIGKILL.
const launchdPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{html .Name}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{html .Path}}</string>
		{{- range .Config.Arguments}}
		<string>{{html .}}</string>
		{{- end}}
	</array>
	{{- if .EnvVars}}
	<key>EnvironmentVariables</key>
	<dict>
		{{- range $k, $v := .EnvVars}}
		<key>{{html $k}}</key>
		<string>{{html $v}}</string>
		{{- end}}
	</dict>
	{{- end}}
	{{- if .WorkingDirectory}}
	<key>WorkingDirectory</key>
	<string>{{html .WorkingDirectory}}</string>
	{{- end}}
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>@RESTART_SEC@</integer>
	<key>ExitTimeOut</key>
	<integer>@EXIT_TIMEOUT@</integer>
	<key>StandardOutPath</key>
	<string>{{html .StandardOutPath}}</string>
	<key>StandardErrorPath</key>
	<string>{{html .StandardErrorPath}}</string>
</dict>
</plist>
`

// launchdTemplate is the plist template text for o, ready for kardianos.
func launchdTemplate(o *Options) string {
	return strings.NewReplacer(
		"@RESTART_SEC@", strconv.Itoa(int(RestartDelay/time.Second)),
		"@EXIT_TIMEOUT@", strconv.Itoa(o.managerDeadline()),
	).Replace(launchdPlist)
}
