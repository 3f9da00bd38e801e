package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "9.8.7"
	got := String()
	want := "pin-clientd 9.8.7 (" + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if strings.Contains(got, "\n") {
		t.Fatalf("String() must be one line, got %q", got)
	}
}
