package installer

import "runtime"

// ServiceName is the name pin-clientd's service is installed under (the systemd unit,
// the launchd label, the Windows service and its Event Log source), for the daemon and
// the desktop app alike.
const ServiceName = "pin-clientd"

// UserServices reports whether this OS has per-user services (systemd --user,
// LaunchAgent); Windows has only system services.
func UserServices() bool { return userServices(runtime.GOOS) }

func userServices(goos string) bool { return goos != "windows" }

// Find returns the manager of the installed service o names, and whether it is the
// user one. With o.User it is the user service. Otherwise it is the system service when
// that is installed, else the user service when only that one is installed, else the
// (absent) system service. The error is New's for the service asked for.
func Find(o Options) (Manager, bool, error) {
	m, err := New(o)
	if err != nil || o.User {
		return m, o.User, err
	}
	if m.Installed() {
		return m, false, nil
	}
	o.User = true
	um, err := New(o)
	if err != nil {
		return m, false, nil // no user services here (Windows)
	}
	if um.Installed() {
		return um, true, nil
	}
	return m, false, nil
}
