package main

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg links (go list -deps), with the build constraints of
// goos and cgo off, as `make cross` builds them.
func deps(t *testing.T, pkg, goos string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS="+goos)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// guiModule is the GUI toolkit the daemon must never link.
const guiModule = "fyne.io"

// TestDaemonDependencies is the design's dependency direction (design.md §2), checked
// on what really links, Tailscale deptest style.
func TestDaemonDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/pin-client/pin-client/"
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, d := range deps(t, "./", goos) {
			if strings.HasPrefix(d, guiModule+"/") || strings.Contains(d, "go-gl") {
				t.Errorf("%s: pin-clientd links %s; the daemon must stay GUI-free (no cgo)", goos, d)
			}
			if strings.HasPrefix(d, mod+"app") {
				t.Errorf("%s: pin-clientd links the desktop app package %s", goos, d)
			}
		}
	}
	for _, d := range deps(t, mod+"core", "linux") {
		if strings.HasPrefix(d, mod+"backends/") && !strings.HasPrefix(d, mod+"backends/internal") {
			t.Errorf("core links the adapter %s; it must see only the backends interface", d)
		}
		if strings.HasPrefix(d, mod+"installer") || strings.HasPrefix(d, mod+"internal/secret") {
			t.Errorf("core links %s; the engine is handed its secret and knows no service", d)
		}
	}
	for _, d := range deps(t, mod+"backends/...", "linux") {
		if strings.HasPrefix(d, mod+"core") {
			t.Errorf("backends links %s; backends is a leaf", d)
		}
	}
}
