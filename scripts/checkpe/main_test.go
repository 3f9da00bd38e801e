package main

import (
	"debug/pe"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rsrcSection builds a resource section at rva with one leaf (name 1, language 0x409) per
// type, holding data[type], laid out as the resource compiler does: directories, then
// data entries, then the data.
func rsrcSection(rva uint32, types []uint32, data map[uint32][]byte) []byte {
	le := binary.LittleEndian
	dir := func(b []byte, entries [][2]uint32) []byte {
		b = append(b, make([]byte, 12)...)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, uint16(len(entries)))
		for _, e := range entries {
			b = le.AppendUint32(b, e[0])
			b = le.AppendUint32(b, e[1])
		}
		return b
	}
	n := uint32(len(types))
	rootSize := 16 + 8*n
	sub := uint32(16 + 8) // each name or language directory has one entry
	nameDirs := rootSize
	langDirs := nameDirs + n*sub
	dataEntries := langDirs + n*sub
	blobs := dataEntries + n*16
	var root [][2]uint32
	b := []byte{}
	for i, t := range types {
		root = append(root, [2]uint32{t, 0x80000000 | (nameDirs + uint32(i)*sub)})
	}
	b = dir(b, root)
	for i := range types {
		b = dir(b, [][2]uint32{{1, 0x80000000 | (langDirs + uint32(i)*sub)}})
	}
	for i := range types {
		b = dir(b, [][2]uint32{{0x409, dataEntries + uint32(i)*16}})
	}
	off := blobs
	for _, t := range types {
		b = le.AppendUint32(b, rva+off)
		b = le.AppendUint32(b, uint32(len(data[t])))
		b = append(b, make([]byte, 8)...)
		off += uint32(len(data[t]))
	}
	for _, t := range types {
		b = append(b, data[t]...)
	}
	return b
}

func TestResources(t *testing.T) {
	const rva = 0x5000
	data := map[uint32][]byte{
		rtGroupIcon: []byte("group"),
		rtIcon:      []byte("png bytes"),
		rtVersion:   append([]byte("VS_VERSION_INFO "), utf16le("3.0.0+g1234")...),
		rtManifest:  []byte("<assembly/>"),
	}
	types := []uint32{rtIcon, rtGroupIcon, rtVersion, rtManifest}
	res, err := Resources(rsrcSection(rva, types, data), rva)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range types {
		if len(res[typ]) != 1 || string(res[typ][0]) != string(data[typ]) {
			t.Errorf("type %d: %q, want one leaf %q", typ, res[typ], data[typ])
		}
	}

	gui := Report{PE32Plus: true, Machine: pe.IMAGE_FILE_MACHINE_AMD64, Subsystem: subsystemGUI, Resources: res}
	if err := gui.Check(false, "3.0.0+g1234"); err != nil {
		t.Errorf("a complete GUI app fails: %v", err)
	}
	if err := gui.Check(false, "9.9.9"); err == nil || !strings.Contains(err.Error(), `does not contain "9.9.9"`) {
		t.Errorf("wrong version: %v", err)
	}
	if err := gui.Check(true, ""); err == nil || !strings.Contains(err.Error(), "WINDOWS_CUI") {
		t.Errorf("a GUI app passed as console: %v", err)
	}

	// Each missing resource is named.
	for _, missing := range types {
		var rest []uint32
		for _, typ := range types {
			if typ != missing {
				rest = append(rest, typ)
			}
		}
		res, err := Resources(rsrcSection(rva, rest, data), rva)
		if err != nil {
			t.Fatal(err)
		}
		r := gui
		r.Resources = res
		if err := r.Check(false, ""); err == nil || !strings.Contains(err.Error(), "no "+typeNames[missing]+" resource") {
			t.Errorf("without %s: %v", typeNames[missing], err)
		}
	}

	// Broken sections give errors, not panics.
	sec := rsrcSection(rva, types, data)
	for _, cut := range []int{0, 10, 20, 60, len(sec) - 1} {
		if _, err := Resources(sec[:cut], rva); err == nil {
			t.Errorf("section cut at %d bytes: no error", cut)
		}
	}
	if _, err := Resources(sec, rva+0x1000); err == nil {
		t.Error("data RVAs below the section: no error")
	}
}

func TestReportCheckKinds(t *testing.T) {
	for _, r := range []Report{
		{PE32Plus: false, Machine: pe.IMAGE_FILE_MACHINE_I386, Subsystem: subsystemGUI},
		{PE32Plus: true, Machine: pe.IMAGE_FILE_MACHINE_ARM64, Subsystem: subsystemGUI},
	} {
		if err := r.Check(false, ""); err == nil || !strings.Contains(err.Error(), "PE32+ amd64") {
			t.Errorf("%s: %v", r, err)
		}
	}
	cui := Report{PE32Plus: true, Machine: pe.IMAGE_FILE_MACHINE_AMD64, Subsystem: subsystemConsole}
	if err := cui.Check(true, ""); err != nil {
		t.Errorf("console program: %v", err)
	}
	if err := cui.Check(false, ""); err == nil || !strings.Contains(err.Error(), "-H=windowsgui") {
		t.Errorf("console program as GUI: %v", err)
	}
}

// TestRealExecutables builds two tiny Windows programs with the Go toolchain (pure Go,
// console and -H=windowsgui) and checks what CheckFile reads from the real files.
func TestRealExecutables(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(out string, ldflags string) string {
		t.Helper()
		p := filepath.Join(dir, out)
		cmd := exec.Command(gobin, "build", "-ldflags", ldflags, "-o", p, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return p
	}
	console := build("console.exe", "-s -w")
	gui := build("gui.exe", "-s -w -H=windowsgui")

	if r, err := CheckFile(console, true, ""); err != nil {
		t.Errorf("console program: %v", err)
	} else if !strings.HasPrefix(r.String(), "PE32+ machine 0x8664, subsystem WINDOWS_CUI") {
		t.Errorf("report %s", r)
	}
	if _, err := CheckFile(gui, false, ""); err == nil || !strings.Contains(err.Error(), "no RT_GROUP_ICON resource") {
		t.Errorf("GUI program without resources: %v", err)
	}
	if _, err := CheckFile(gui, true, ""); err == nil {
		t.Error("GUI program passed as console")
	}
	if _, err := CheckFile(filepath.Join(dir, "main.go"), false, ""); err == nil || !strings.Contains(err.Error(), "not a PE file") {
		t.Errorf("a text file: %v", err)
	}
}
