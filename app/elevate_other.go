//go:build !windows

package app

import (
	"context"
	"errors"
)

// runAsAdmin: elevating through a prompt is Windows'; elsewhere the app installs a
// user service, which needs no elevation.
func runAsAdmin(context.Context, string, []string) (uint32, error) {
	return 0, errors.New("running as Administrator is only supported on Windows")
}
