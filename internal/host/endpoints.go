package host

import (
	"path/filepath"
	"runtime"
)

// userEndpoints lists the user engines' control endpoints the system service can see:
// on Linux each logged-in user's $XDG_RUNTIME_DIR (/run/user/UID) holds one.
func userEndpoints() []string {
	if runtime.GOOS != "linux" {
		return nil
	}
	paths, _ := filepath.Glob("/run/user/*/pin-client/engine.sock")
	return paths
}
