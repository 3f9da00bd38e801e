//go:build !windows

package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// ListenOptions configures Listen.
type ListenOptions struct {
	// Group, when >= 0, makes the socket mode 0660 and its group Group (the system
	// service's pin-client group); -1 keeps it 0600, the engine's user only.
	Group int
	// System is set for the system-wide service: a directory Listen creates gets mode
	// 0750 instead of 0700 (and the group Group, if any); on Windows the pipe admits
	// SYSTEM and Administrators instead of the current user.
	System bool
}

// maxSocketPath is the longest path bind(2) takes (sun_path less its NUL).
func maxSocketPath() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}

// Listen creates the control endpoint at path. A missing parent directory is created
// (mode 0700, or 0750 with System) and, with Group >= 0, given that group; an existing
// directory is left as it is. A socket file nothing answers on (left by a killed
// engine) is removed; one a live engine answers on is ErrInUse (wrapped with the path);
// a file that is not a socket is an error. After listening the socket gets mode 0600,
// or 0660 and group Group. Closing the listener removes the socket file.
func Listen(path string, o ListenOptions) (net.Listener, error) {
	if path == "" {
		return nil, errors.New("control socket: empty path")
	}
	if len(path) > maxSocketPath() {
		return nil, fmt.Errorf("control socket %s: path is %d bytes, longer than the OS allows (%d); set %s to a shorter path", path, len(path), maxSocketPath(), SocketEnv)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		mode := fs.FileMode(0o700)
		if o.System {
			mode = 0o750
		}
		if err := os.MkdirAll(dir, mode); err != nil {
			return nil, fmt.Errorf("control socket directory: %w", err)
		}
		if err := os.Chmod(dir, mode); err != nil { // exactly mode, whatever the umask
			return nil, fmt.Errorf("control socket directory: %w", err)
		}
		if o.Group >= 0 {
			if err := os.Chown(dir, -1, o.Group); err != nil {
				return nil, fmt.Errorf("control socket directory: give it group %d: %w", o.Group, err)
			}
		}
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) { // another engine won the race since removeStale
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mode := fs.FileMode(0o600)
	if o.Group >= 0 {
		mode = 0o660
		if err := os.Chown(path, -1, o.Group); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket %s: give it group %d: %w", path, o.Group, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// removeStale removes a socket file at path that nothing answers on. A live socket is
// ErrInUse; a file that is not a socket is left alone and is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s: the file exists and is not a socket; remove it or set %s to another path", path, SocketEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := dial(ctx, path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket %s: cannot tell whether an engine serves it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket: remove the stale socket: %w", err)
	}
	return nil
}

// dial connects to the Unix socket at path.
func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}
