// Command checkpe checks a Windows executable built here: that it is a PE32+ image for
// amd64 with the expected subsystem and, for the desktop app, the resources of a proper
// Windows app (an icon group and its icons, a version resource, a manifest). It reads the
// file with debug/pe and walks the resource directory itself. Standard library only.
//
// Usage:
//
//	go run ./scripts/checkpe [-console] [-version V] file.exe...
//
// Without -console the file must be a GUI program (subsystem WINDOWS_GUI, 2) with an
// RT_GROUP_ICON, RT_ICON, RT_VERSION (whose strings contain V when given) and
// RT_MANIFEST; with -console a console program (WINDOWS_CUI, 3). It prints one line per
// file and exits 1 with the reason when a file fails.
package main

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode/utf16"
)

// Resource types (winuser.h).
const (
	rtIcon      = 3
	rtGroupIcon = 14
	rtVersion   = 16
	rtManifest  = 24
)

var typeNames = map[uint32]string{rtIcon: "RT_ICON", rtGroupIcon: "RT_GROUP_ICON", rtVersion: "RT_VERSION", rtManifest: "RT_MANIFEST"}

// Subsystems (winnt.h).
const (
	subsystemGUI     = 2
	subsystemConsole = 3
)

func main() {
	fs := flag.NewFlagSet("checkpe", flag.ExitOnError)
	console := fs.Bool("console", false, "expect a console program (the daemon) instead of a GUI app with resources")
	version := fs.String("version", "", "the GUI app's version resource must contain this string")
	fs.Parse(os.Args[1:])
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: checkpe [-console] [-version V] file.exe...")
		os.Exit(2)
	}
	failed := false
	for _, name := range fs.Args() {
		r, err := CheckFile(name, *console, *version)
		if err != nil {
			fmt.Fprintf(os.Stderr, "checkpe: %s: %v\n", name, err)
			failed = true
			continue
		}
		fmt.Printf("%s: %s\n", name, r)
	}
	if failed {
		os.Exit(1)
	}
}

// Report is what Inspect found in an image.
type Report struct {
	PE32Plus  bool
	Machine   uint16
	Subsystem uint16
	// Resources maps each resource type ID to its leaves' data.
	Resources map[uint32][][]byte
}

func (r Report) String() string {
	kind := "PE32"
	if r.PE32Plus {
		kind = "PE32+"
	}
	sub := map[uint16]string{subsystemGUI: "WINDOWS_GUI", subsystemConsole: "WINDOWS_CUI"}[r.Subsystem]
	if sub == "" {
		sub = fmt.Sprint(r.Subsystem)
	}
	var res []string
	for _, t := range slices.Sorted(maps.Keys(r.Resources)) {
		name := typeNames[t]
		if name == "" {
			name = fmt.Sprintf("type %d", t)
		}
		res = append(res, fmt.Sprintf("%s x%d", name, len(r.Resources[t])))
	}
	if len(res) == 0 {
		res = []string{"none"}
	}
	return fmt.Sprintf("%s machine %#x, subsystem %s, resources: %s", kind, r.Machine, sub, strings.Join(res, ", "))
}

// CheckFile inspects name and checks it against the expectations described in the
// command's doc; the error says what is wrong.
func CheckFile(name string, console bool, version string) (Report, error) {
	f, err := pe.Open(name)
	if err != nil {
		return Report{}, fmt.Errorf("not a PE file: %w", err)
	}
	defer f.Close()
	r, err := Inspect(f)
	if err != nil {
		return r, err
	}
	return r, r.Check(console, version)
}

// Check compares the report with a console program or a GUI app with its resources.
func (r Report) Check(console bool, version string) error {
	if !r.PE32Plus || r.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		return fmt.Errorf("want a PE32+ amd64 image, got %s", r)
	}
	if console {
		if r.Subsystem != subsystemConsole {
			return fmt.Errorf("want subsystem WINDOWS_CUI (3), got %d", r.Subsystem)
		}
		return nil
	}
	if r.Subsystem != subsystemGUI {
		return fmt.Errorf("want subsystem WINDOWS_GUI (2), got %d (build with -ldflags -H=windowsgui)", r.Subsystem)
	}
	for _, t := range []uint32{rtGroupIcon, rtIcon, rtVersion, rtManifest} {
		if len(r.Resources[t]) == 0 {
			return fmt.Errorf("no %s resource (is the .syso from scripts/winres beside main.go?); found %s", typeNames[t], r)
		}
	}
	if version != "" {
		want := utf16le(version)
		if !slices.ContainsFunc(r.Resources[rtVersion], func(d []byte) bool { return bytes.Contains(d, want) }) {
			return fmt.Errorf("the version resource does not contain %q", version)
		}
	}
	return nil
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// Inspect reads the image's kind, machine, subsystem and resources.
func Inspect(f *pe.File) (Report, error) {
	r := Report{Machine: f.Machine}
	var dir pe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		r.PE32Plus, r.Subsystem = true, oh.Subsystem
		if len(oh.DataDirectory) > pe.IMAGE_DIRECTORY_ENTRY_RESOURCE {
			dir = oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
		}
	case *pe.OptionalHeader32:
		r.Subsystem = oh.Subsystem
		if len(oh.DataDirectory) > pe.IMAGE_DIRECTORY_ENTRY_RESOURCE {
			dir = oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
		}
	default:
		return r, errors.New("no optional header: an object file, not an executable")
	}
	if dir.VirtualAddress == 0 || dir.Size == 0 {
		return r, nil
	}
	for _, s := range f.Sections {
		if dir.VirtualAddress < s.VirtualAddress || dir.VirtualAddress >= s.VirtualAddress+max(s.VirtualSize, s.Size) {
			continue
		}
		data, err := s.Data()
		if err != nil {
			return r, fmt.Errorf("read section %s: %w", s.Name, err)
		}
		off := dir.VirtualAddress - s.VirtualAddress
		if off > uint32(len(data)) {
			return r, fmt.Errorf("resource directory outside section %s", s.Name)
		}
		r.Resources, err = Resources(data[off:], dir.VirtualAddress)
		return r, err
	}
	return r, fmt.Errorf("resource directory at RVA %#x is in no section", dir.VirtualAddress)
}

// Resources walks a resource directory (type, name, language levels) held in rsrc,
// which starts at relative virtual address rva, and returns each type's leaf data.
func Resources(rsrc []byte, rva uint32) (map[uint32][][]byte, error) {
	out := map[uint32][][]byte{}
	var walk func(off uint32, depth int, typ uint32) error
	walk = func(off uint32, depth int, typ uint32) error {
		if depth > 3 {
			return errors.New("resource directory nested deeper than 3 levels")
		}
		if uint64(off)+16 > uint64(len(rsrc)) {
			return fmt.Errorf("resource directory at %#x is cut off", off)
		}
		n := int(binary.LittleEndian.Uint16(rsrc[off+12:])) + int(binary.LittleEndian.Uint16(rsrc[off+14:]))
		for i := range n {
			e := off + 16 + uint32(i)*8
			if uint64(e)+8 > uint64(len(rsrc)) {
				return fmt.Errorf("resource entry at %#x is cut off", e)
			}
			id := binary.LittleEndian.Uint32(rsrc[e:])
			to := binary.LittleEndian.Uint32(rsrc[e+4:])
			t := typ
			if depth == 0 {
				if id&0x80000000 != 0 {
					continue // a named type: none of ours
				}
				t = id
			}
			if to&0x80000000 != 0 {
				if err := walk(to&0x7fffffff, depth+1, t); err != nil {
					return err
				}
				continue
			}
			if uint64(to)+16 > uint64(len(rsrc)) {
				return fmt.Errorf("resource data entry at %#x is cut off", to)
			}
			dataRVA := binary.LittleEndian.Uint32(rsrc[to:])
			size := binary.LittleEndian.Uint32(rsrc[to+4:])
			start := uint64(dataRVA) - uint64(rva)
			if dataRVA < rva || start+uint64(size) > uint64(len(rsrc)) {
				return fmt.Errorf("resource data at RVA %#x (%d bytes) is outside the resource section", dataRVA, size)
			}
			out[t] = append(out[t], rsrc[start:start+uint64(size)])
		}
		return nil
	}
	return out, walk(0, 0, 0)
}
