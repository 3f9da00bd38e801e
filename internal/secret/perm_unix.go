//go:build !windows

package secret

import "os"

// restrict makes a freshly created file readable and writable by its owner only.
func restrict(f *os.File) error { return f.Chmod(0o600) }

// readableByOthers reports whether group or others may read path.
func readableByOthers(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm()&0o044 != 0
}
