// Package testbin builds the repository's commands for tests that run them as real
// processes (the daemon as the background service's stand-in): each command once per
// test binary, with CGO_ENABLED=0 as a release is built.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

type build struct {
	once sync.Once
	bin  string
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*build{} // guarded by mu: by import path
	dir    string                // guarded by mu: where the binaries go
)

// Build returns the path of the command pkg (an import path such as
// "github.com/pin-client/pin-client/cmd/pin-clientd"), building it on first use. A build
// failure fails t. The binaries stay until Cleanup.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	b := builds[pkg]
	if b == nil {
		b = &build{}
		builds[pkg] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		d, err := binDir()
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(d, path.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

func binDir() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "pin-client-testbin-")
		if err != nil {
			return "", err
		}
		dir = d
	}
	return dir, nil
}

// Cleanup removes the built binaries; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
	}
}
