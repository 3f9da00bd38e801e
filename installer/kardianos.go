package installer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/kardianos/service"
)

// kardianosConfig is the kardianos configuration for o on goos (darwin or windows).
// It compiles everywhere so that its tests run on Linux.
func kardianosConfig(o *Options, goos string) *service.Config {
	c := &service.Config{
		Name:             o.Name,
		DisplayName:      o.DisplayName,
		Description:      o.Description,
		Executable:       o.Executable,
		Arguments:        append(slices.Clone(o.Arguments), o.RawArguments...),
		WorkingDirectory: o.WorkingDirectory,
		EnvVars:          o.Env,
		Option:           service.KeyValue{},
	}
	switch goos {
	case "darwin":
		c.Option["LaunchdConfig"] = launchdTemplate(o)
		c.Option["UserService"] = o.User
		c.Option["RunAtLoad"] = true
		if o.User && o.Home != "" {
			c.Option["LogDirectory"] = filepath.Join(o.Home, "Library", "Logs")
		}
	case "windows":
		// Windows has no network-online target: start after boot settles, and after
		// the TCP/IP stack and the DNS client.
		c.Dependencies = []string{"Tcpip", "Dnscache"}
		c.Option["StartType"] = "automatic"
		c.Option["DelayedAutoStart"] = true
		c.Option["OnFailure"] = "restart"
		c.Option["OnFailureDelayDuration"] = RestartDelay.String()
		c.Option["OnFailureResetPeriod"] = 600
	}
	return c
}

// kardianosManager is the macOS and Windows backend.
type kardianosManager struct {
	s    service.Service
	path string
	name string
}

func newKardianos(o Options) (*kardianosManager, error) {
	if o.User && runtime.GOOS == "windows" {
		return nil, ErrUserUnsupported
	}
	if o.User && o.Home == "" {
		o.Home, _ = os.UserHomeDir()
	}
	s, err := service.New(nopProgram{}, kardianosConfig(&o, runtime.GOOS))
	if err != nil {
		return nil, fmt.Errorf("service manager: %w", err)
	}
	m := &kardianosManager{s: s}
	switch runtime.GOOS {
	case "darwin":
		if o.User {
			m.path = filepath.Join(o.Home, "Library", "LaunchAgents", o.Name+".plist")
			m.name = "launchd agent (user)"
		} else {
			m.path = filepath.Join("/Library/LaunchDaemons", o.Name+".plist")
			m.name = "launchd daemon (system)"
		}
	case "windows":
		m.name = "Windows service"
	default:
		m.name = service.Platform()
	}
	return m, nil
}

func (m *kardianosManager) Path() string     { return m.path }
func (m *kardianosManager) Platform() string { return m.name }

func (m *kardianosManager) Install() error {
	if st, _ := m.Status(); st != StatusNotInstalled && st != StatusUnknown {
		return ErrInstalled
	}
	return m.s.Install()
}

func (m *kardianosManager) Uninstall() error {
	if st, _ := m.Status(); st == StatusNotInstalled {
		return ErrNotInstalled
	}
	return m.s.Uninstall()
}

// Installed asks the service manager (kardianos has no cheaper way).
func (m *kardianosManager) Installed() bool {
	st, _ := m.Status()
	return st != StatusNotInstalled
}

func (m *kardianosManager) Start() error   { return m.s.Start() }
func (m *kardianosManager) Stop() error    { return m.s.Stop() }
func (m *kardianosManager) Restart() error { return m.s.Restart() }

func (m *kardianosManager) Status() (Status, error) {
	st, err := m.s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return StatusNotInstalled, nil
	case err != nil:
		return StatusUnknown, err
	case st == service.StatusRunning:
		return StatusRunning, nil
	case st == service.StatusStopped:
		return StatusStopped, nil
	}
	return StatusUnknown, nil
}

// nopProgram satisfies kardianos for install-side operations, which never run it.
type nopProgram struct{}

func (nopProgram) Start(service.Service) error { return nil }
func (nopProgram) Stop(service.Service) error  { return nil }

// New returns the Manager for this OS: systemd on Linux, launchd on macOS, the service
// control manager on Windows.
func New(o Options) (Manager, error) {
	if runtime.GOOS == "linux" {
		return newSystemd(o)
	}
	return newKardianos(o)
}
