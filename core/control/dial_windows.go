//go:build windows

package control

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/windows"
)

// isNotExist reports whether err says nothing is at the endpoint's path.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND)
}
