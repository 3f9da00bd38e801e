package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/pin-client/pin-client/app/autostart"
	"github.com/pin-client/pin-client/internal/config"
)

// On Windows there are only system services, and installing one needs an
// Administrator: the app runs `pin-clientd.exe service … --output FILE` through the UAC
// prompt (ShellExecuteEx, verb "runas"; elevate_windows.go), waits for it, and reads
// what it printed from FILE, since the elevated process's console is hidden. The logic
// around that call lives here and runs in the Linux tests.

// errorCancelled is Windows' ERROR_CANCELLED: the user answered No to the UAC prompt.
const errorCancelled = syscall.Errno(1223)

// runElevated runs exe with args as Administrator, waits for it and returns its exit
// code. A test hook; the real one asks through the UAC prompt (runAsAdmin).
var runElevated = runAsAdmin

// elevatedInstallArgs is the command line of the elevated install: a system service,
// started once installed, as many jobs at once as the nodes' capacities add up to.
func elevatedInstallArgs(configPath string, cfg *config.Config) []string {
	return []string{"service", "install", "-c", configPath, "-n", strconv.Itoa(threads(cfg)), "--start"}
}

// elevatedUninstallArgs is the command line of the elevated uninstall.
func elevatedUninstallArgs() []string {
	return []string{"service", "uninstall"}
}

// runDaemonElevated runs the daemon with args and --output FILE as Administrator and
// returns the first line it printed, or the error with the fix; what names the action.
func runDaemonElevated(ctx context.Context, daemon string, args []string, what string) (string, error) {
	f, err := os.CreateTemp("", "pin-clientd-*.txt")
	if err != nil {
		return "", fmt.Errorf("%s: a file for the service command's output: %w", what, err)
	}
	out := f.Name()
	f.Close()
	defer os.Remove(out)
	code, err := runElevated(ctx, daemon, append(slices.Clip(args), "--output", out))
	text, _ := os.ReadFile(out)
	if err := elevatedResult(what, daemon, args, code, err, string(text)); err != nil {
		return "", err
	}
	return firstLine(text), nil
}

// elevatedResult maps the outcome of an elevated run to the error the user sees: the
// prompt declined (nothing changed), the run failed to start or did not finish, or the
// command failed (its last output line, which names the fix). nil when it succeeded.
// shown is the command as the user could type it in an Administrator prompt.
func elevatedResult(what, daemon string, shown []string, code uint32, err error, output string) error {
	cmd := autostart.RunValue(append([]string{daemon}, shown...))
	switch {
	case errors.Is(err, errorCancelled):
		return fmt.Errorf("%s: the administrator prompt was declined, so nothing changed; choose it again and answer Yes, or run %s from an Administrator prompt", what, cmd)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: the administrator prompt or the command did not finish in time; check `pin-clientd service status` from an Administrator prompt", what)
	case err != nil:
		return fmt.Errorf("%s: could not run it as Administrator (%v); run %s from an Administrator prompt", what, err, cmd)
	case code != 0:
		if strings.TrimSpace(output) != "" {
			return fmt.Errorf("%s: %s", what, strings.TrimPrefix(lastLine([]byte(output), nil), "pin-clientd: "))
		}
		return fmt.Errorf("%s failed (exit status %d); run %s from an Administrator prompt to see why", what, code, cmd)
	}
	return nil
}
