//go:build windows

package control

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// ListenOptions configures Listen.
type ListenOptions struct {
	// Group is not used on Windows (the pipe's security descriptor decides); -1.
	Group int
	// System is set for the system-wide service: the pipe admits SYSTEM and
	// Administrators instead of the current user.
	System bool
}

// Listen creates the named pipe at path (\\.\pipe\…) with a security descriptor that
// admits only the current user (SYSTEM and Administrators with System). A pipe another
// process already serves is ErrInUse (wrapped with the path).
func Listen(path string, o ListenOptions) (net.Listener, error) {
	sd, err := pipeSecurity(o.System)
	if err != nil {
		return nil, fmt.Errorf("control pipe %s: %w", path, err)
	}
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: sd, InputBufferSize: 64 << 10, OutputBufferSize: 64 << 10})
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_PIPE_BUSY) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		return nil, fmt.Errorf("control pipe %s: %w", path, err)
	}
	return ln, nil
}

// pipeSecurity is the SDDL of the pipe: a protected DACL granting full access to the
// current user's SID only, or to SYSTEM (SY) and the Administrators group (BA).
func pipeSecurity(system bool) (string, error) {
	if system {
		return "D:P(A;;GA;;;SY)(A;;GA;;;BA)", nil
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("current user: %w", err)
	}
	return "D:P(A;;GA;;;" + u.User.Sid.String() + ")", nil
}

// dial connects to the named pipe at path.
func dial(ctx context.Context, path string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, path)
}
