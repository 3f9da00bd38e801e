package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedMatchesGenerator fails when someone edits the drawing code without
// running `go generate ./assets`, or edits a PNG by hand.
func TestCommittedMatchesGenerator(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatalf("%s: %v; run go generate ./assets", name, err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("assets/%s differs from what gen draws; run go generate ./assets", name)
		}
	}
}
