package installer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// systemd is the Linux backend: unit files written here, systemctl for the rest. It
// compiles everywhere so that its tests run on any OS with a fake systemctl.
type systemd struct {
	o    Options
	path string // unit file
}

func newSystemd(o Options) (*systemd, error) {
	if o.Name == "" {
		return nil, errors.New("service name is empty")
	}
	unit := o.Name + ".service"
	var path string
	if o.User {
		dir, err := userUnitDir(&o)
		if err != nil {
			return nil, err
		}
		path = filepath.Join(dir, unit)
	} else {
		path = filepath.Join(o.Root, "/etc/systemd/system", unit)
	}
	return &systemd{o: o, path: path}, nil
}

// userUnitDir is $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user.
func userUnitDir(o *Options) (string, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "systemd", "user"), nil
	}
	home := o.Home
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("user unit folder: %w", err)
		}
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}

func (s *systemd) Path() string { return s.path }

func (s *systemd) Platform() string {
	if s.o.User {
		return "systemd --user"
	}
	return "systemd (system)"
}

func (s *systemd) unit() string { return s.o.Name + ".service" }

// systemctl runs systemctl [--user] args...; its output is part of the error.
func (s *systemd) systemctl(args ...string) (string, error) {
	cmd := s.o.Systemctl
	if cmd == "" {
		cmd = "systemctl"
	}
	if s.o.User {
		args = append([]string{"--user"}, args...)
	}
	var out bytes.Buffer
	c := exec.Command(cmd, args...)
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		if text != "" {
			return text, fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, firstLine(text))
		}
		return text, fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
	}
	return text, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Installed reports whether the unit file exists.
func (s *systemd) Installed() bool {
	_, err := os.Stat(s.path)
	return err == nil
}

func (s *systemd) Install() error {
	if s.Installed() {
		return fmt.Errorf("%w: %s", ErrInstalled, s.path)
	}
	text, err := renderSystemdUnit(&s.o)
	if err != nil {
		return fmt.Errorf("render unit: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("write unit: %w", err)
	}
	if err := os.WriteFile(s.path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write unit: %w", err)
	}
	// daemon-reload first, so that enable sees the new unit.
	if _, err := s.systemctl("daemon-reload"); err != nil {
		return err
	}
	if _, err := s.systemctl("enable", s.unit()); err != nil {
		return err
	}
	return nil
}

func (s *systemd) Uninstall() error {
	if !s.Installed() {
		return fmt.Errorf("%w: no %s", ErrNotInstalled, s.path)
	}
	// Stop and disable may fail on a unit systemd never loaded; removing the file is
	// what matters, and daemon-reload must see it gone.
	_, stopErr := s.systemctl("stop", s.unit())
	_, disErr := s.systemctl("disable", s.unit())
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove unit: %w", err)
	}
	if _, err := s.systemctl("daemon-reload"); err != nil {
		return err
	}
	s.systemctl("reset-failed", s.unit()) // forget a failed state; fine if there was none
	return errors.Join(stopErr, disErr)
}

func (s *systemd) action(verb string) error {
	if !s.Installed() {
		return fmt.Errorf("%w: no %s", ErrNotInstalled, s.path)
	}
	_, err := s.systemctl(verb, s.unit())
	return err
}

func (s *systemd) Start() error   { return s.action("start") }
func (s *systemd) Stop() error    { return s.action("stop") }
func (s *systemd) Restart() error { return s.action("restart") }

// Status asks systemctl is-active, which exits non-zero for anything but active: the
// word it prints is what counts.
func (s *systemd) Status() (Status, error) {
	if !s.Installed() {
		return StatusNotInstalled, nil
	}
	out, err := s.systemctl("is-active", s.unit())
	switch firstLine(out) {
	case "active", "activating", "reloading", "deactivating":
		return StatusRunning, nil
	case "inactive":
		return StatusStopped, nil
	case "failed":
		return StatusFailed, nil
	}
	if err == nil {
		err = fmt.Errorf("systemctl is-active: unexpected answer %q", firstLine(out))
	}
	return StatusUnknown, err
}
