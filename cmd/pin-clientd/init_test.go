package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// init refuses to replace a config before it scans anything.
func TestInitRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"clientId":"op_keep"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	io, _, _ := setupTestIO()
	err := dispatch(context.Background(), []string{"init", "-c", path, "--client-id", "op_x", "--region", "global"}, io)
	if err == nil || !strings.Contains(err.Error(), "already exists; pass --force") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"clientId":"op_keep"}` {
		t.Errorf("file changed: %s", b)
	}
}

func TestInitNotATerminalWithoutRegion(t *testing.T) {
	io, _, _ := setupTestIO()
	err := runInit(context.Background(), []string{"-c", filepath.Join(t.TempDir(), "c.json"), "--url", "http://127.0.0.1:1", "--api-mode", "openai", "--client-id", "op_x", "--timeout", "200ms"}, io)
	if err == nil || !strings.Contains(err.Error(), "--region is required when stdin is not a terminal") {
		t.Fatalf("err = %v", err)
	}
}
