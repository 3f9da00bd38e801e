package main

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestICO(t *testing.T) {
	// A 512 px icon: opaque red left half, transparent right half.
	src := image.NewNRGBA(image.Rect(0, 0, 512, 512))
	for y := range 512 {
		for x := range 256 {
			src.SetNRGBA(x, y, color.NRGBA{R: 200, A: 255})
		}
	}
	ico, err := ICO(src, IconSizes)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint16(ico[0:]) != 0 || le.Uint16(ico[2:]) != 1 || int(le.Uint16(ico[4:])) != len(IconSizes) {
		t.Fatalf("header % x", ico[:6])
	}
	end := 6 + 16*len(IconSizes)
	for i, size := range IconSizes {
		e := ico[6+16*i:]
		w := int(e[0])
		if w == 0 {
			w = 256
		}
		n, off := int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
		if w != size || off != end || off+n > len(ico) || le.Uint16(e[6:]) != 32 {
			t.Fatalf("entry %d: width %d offset %d size %d bpp %d (file %d bytes)", i, w, off, n, le.Uint16(e[6:]), len(ico))
		}
		end += n
		img, err := png.Decode(bytes.NewReader(ico[off : off+n]))
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("entry %d is %v, want %d px", i, b, size)
		}
		left := color.NRGBAModel.Convert(img.At(0, size/2)).(color.NRGBA)
		right := color.NRGBAModel.Convert(img.At(size-1, size/2)).(color.NRGBA)
		if left != (color.NRGBA{R: 200, A: 255}) || right.A != 0 {
			t.Errorf("%d px: left %v right %v, want the red half and the transparent half", size, left, right)
		}
	}
	if end != len(ico) {
		t.Errorf("images end at %d, file is %d bytes", end, len(ico))
	}

	if _, err := ICO(image.NewNRGBA(image.Rect(0, 0, 300, 200)), IconSizes); err == nil || !strings.Contains(err.Error(), "not square") {
		t.Errorf("non-square image: %v", err)
	}
	if _, err := ICO(image.NewNRGBA(image.Rect(0, 0, 64, 64)), IconSizes); err == nil || !strings.Contains(err.Error(), "at most the image's 64 px") {
		t.Errorf("too small image: %v", err)
	}
}

func TestFileVersion(t *testing.T) {
	tests := []struct {
		in   string
		want [4]uint16
		err  string
	}{
		{"3.0.0", [4]uint16{3, 0, 0, 0}, ""},
		{"v3.1.2", [4]uint16{3, 1, 2, 0}, ""},
		{"3.0.0+v3.0.0-5-gabc-dirty", [4]uint16{3, 0, 0, 0}, ""},
		{"1.2.3.4", [4]uint16{1, 2, 3, 4}, ""},
		{"3.0", [4]uint16{}, "want MAJOR.MINOR.PATCH"},
		{"3.x.0", [4]uint16{}, `"x" is not a number`},
		{"3.0.70000", [4]uint16{}, `"70000" is not a number from 0 to 65535`},
	}
	for _, tt := range tests {
		got, err := fileVersion(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("fileVersion(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("fileVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestRCAndManifest(t *testing.T) {
	v := [4]uint16{3, 0, 1, 0}
	rc := RC(v, `3.0.1+"odd"\name`)
	for _, want := range []string{
		`1 ICON "pin-client.ico"`,
		`1 24 "pin-client.manifest"`,
		"FILEVERSION 3,0,1,0\n",
		"PRODUCTVERSION 3,0,1,0\n",
		`VALUE "ProductVersion", "3.0.1+""odd""\\name"`,
		`VALUE "OriginalFilename", "pin-client.exe"`,
	} {
		if !strings.Contains(rc, want) {
			t.Errorf("resource script lacks %s:\n%s", want, rc)
		}
	}
	m := Manifest(v)
	if err := xml.Unmarshal([]byte(m), new(struct{})); err != nil {
		t.Fatalf("manifest is not well-formed XML: %v", err)
	}
	for _, want := range []string{`version="3.0.1.0"`, `level="asInvoker"`, "PerMonitorV2"} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %s", want)
		}
	}
}

func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "res")
	if err := run([]string{"-icon", "../../assets/icon.png", "-version", "3.0.0+gabc", "-out", out}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pin-client.ico", "pin-client.manifest", "pin-client.rc"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", out}, "-version is required"},
		{[]string{"-version", "3.0", "-out", out}, "want MAJOR.MINOR.PATCH"},
		{[]string{"-version", "3.0.0", "-icon", "missing.png", "-out", out}, "read the icon"},
		{[]string{"-version", "3.0.0", "extra"}, `unexpected argument "extra"`},
	} {
		if err := run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
