package main

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pin-client.exe")
	txt := filepath.Join(dir, "LICENSE")
	if err := os.WriteFile(exe, []byte("MZ fake exe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(txt, []byte("MIT"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.zip")
	if err := run([]string{"-o", out, "-prefix", "PIN Client/", exe, txt}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	want := map[string]string{"PIN Client/pin-client.exe": "MZ fake exe", "PIN Client/LICENSE": "MIT"}
	if len(zr.File) != len(want) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(want))
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if want[f.Name] != string(data) {
			t.Errorf("%s = %q, want %q", f.Name, data, want[f.Name])
		}
		if f.Name == "PIN Client/pin-client.exe" && f.Mode().Perm() != 0o755 {
			t.Errorf("exe mode %v", f.Mode())
		}
	}

	if err := run([]string{"-o", out, filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Error("a failed run left its temporary file")
	}
	if err := run([]string{"-o", out, dir}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
	if err := run([]string{exe}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no -o: %v", err)
	}
}
