//go:build !windows

package control

import (
	"errors"
	"io/fs"
	"syscall"
)

// isNotExist reports whether err says nothing is at the endpoint's path.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}
