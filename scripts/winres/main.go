// Command winres writes the Windows resources of the desktop app, pin-client.exe, as
// resource-compiler input: an icon made from the app icon PNG (pin-client.ico, PNG
// images at 16, 24, 32, 48, 64 and 256 px), an application manifest (pin-client.manifest:
// per-monitor DPI aware, runs as the invoking user, Windows 10/11) and a resource script
// (pin-client.rc) naming both plus a version resource. `make windows` compiles the script
// with x86_64-w64-mingw32-windres into a .syso that the Go linker puts into the exe.
// Standard library only.
//
// Usage:
//
//	go run ./scripts/winres -icon assets/icon.png -version 3.0.0+g1234 -base 3.0.0 -out build/windows
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// IconSizes are the icon's image sizes in pixels, smallest first.
var IconSizes = []int{16, 24, 32, 48, 64, 256}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "winres:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("winres", flag.ContinueOnError)
	icon := fs.String("icon", "assets/icon.png", "the app icon, a square PNG of at least 256 px")
	version := fs.String("version", "", "the version shown in the file's properties, e.g. 3.0.0+g1234")
	base := fs.String("base", "", "the numeric version MAJOR.MINOR.PATCH[.BUILD] (default: the start of -version)")
	out := fs.String("out", ".", "folder to write pin-client.ico, .manifest and .rc into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *version == "" {
		return errors.New("-version is required, e.g. -version 3.0.0")
	}
	if *base == "" {
		*base = *version
	}
	nums, err := fileVersion(*base)
	if err != nil {
		return err
	}
	f, err := os.Open(*icon)
	if err != nil {
		return fmt.Errorf("read the icon: %w", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read the icon %s: %w", *icon, err)
	}
	ico, err := ICO(img, IconSizes)
	if err != nil {
		return fmt.Errorf("icon %s: %w", *icon, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"pin-client.ico":      ico,
		"pin-client.manifest": []byte(Manifest(nums)),
		"pin-client.rc":       []byte(RC(nums, *version)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fileVersion parses MAJOR.MINOR.PATCH[.BUILD] (anything after the numbers, such as
// "+g1234", is ignored) into the four 16-bit numbers of a version resource.
func fileVersion(s string) ([4]uint16, error) {
	var v [4]uint16
	head := s
	if i := strings.IndexAny(s, "+-~ "); i >= 0 {
		head = s[:i]
	}
	parts := strings.Split(strings.TrimPrefix(head, "v"), ".")
	if len(parts) < 3 || len(parts) > 4 {
		return v, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH, e.g. 3.0.0", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return v, fmt.Errorf("version %q: %q is not a number from 0 to 65535", s, p)
		}
		v[i] = uint16(n)
	}
	return v, nil
}

// ICO encodes img, scaled to each size, as a Windows icon file whose images are PNGs
// (read by Windows Vista and later). img must be square and at least as large as the
// largest size.
func ICO(img image.Image, sizes []int) ([]byte, error) {
	b := img.Bounds()
	if b.Dx() != b.Dy() {
		return nil, fmt.Errorf("the image is %dx%d, not square", b.Dx(), b.Dy())
	}
	var pngs [][]byte
	for _, s := range sizes {
		if s < 1 || s > 256 || s > b.Dx() {
			return nil, fmt.Errorf("icon size %d: want 1 to 256 and at most the image's %d px", s, b.Dx())
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, scale(img, s)); err != nil {
			return nil, err
		}
		pngs = append(pngs, buf.Bytes())
	}
	var out bytes.Buffer
	le := binary.LittleEndian
	out.Write(le.AppendUint16(nil, 0))                  // reserved
	out.Write(le.AppendUint16(nil, 1))                  // type: icon
	out.Write(le.AppendUint16(nil, uint16(len(sizes)))) // count
	offset := 6 + 16*len(sizes)
	for i, s := range sizes {
		dim := byte(s) // 256 is written 0
		out.Write([]byte{dim, dim, 0, 0})
		out.Write(le.AppendUint16(nil, 1))  // colour planes
		out.Write(le.AppendUint16(nil, 32)) // bits per pixel
		out.Write(le.AppendUint32(nil, uint32(len(pngs[i]))))
		out.Write(le.AppendUint32(nil, uint32(offset)))
		offset += len(pngs[i])
	}
	for _, p := range pngs {
		out.Write(p)
	}
	return out.Bytes(), nil
}

// scale shrinks img to size x size by averaging each output pixel's source area
// (alpha-weighted, so transparent pixels do not darken the edges).
func scale(img image.Image, size int) *image.NRGBA {
	b := img.Bounds()
	src := b.Dx()
	dst := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		y0, y1 := b.Min.Y+y*src/size, b.Min.Y+(y+1)*src/size
		for x := range size {
			x0, x1 := b.Min.X+x*src/size, b.Min.X+(x+1)*src/size
			var r, g, bl, a, n uint64
			for sy := y0; sy < max(y1, y0+1); sy++ {
				for sx := x0; sx < max(x1, x0+1); sx++ {
					c := color.NRGBAModel.Convert(img.At(sx, sy)).(color.NRGBA)
					w := uint64(c.A)
					r += uint64(c.R) * w
					g += uint64(c.G) * w
					bl += uint64(c.B) * w
					a += w
					n++
				}
			}
			var c color.NRGBA
			if a > 0 {
				c = color.NRGBA{R: uint8(r / a), G: uint8(g / a), B: uint8(bl / a), A: uint8(a / n)}
			}
			dst.SetNRGBA(x, y, c)
		}
	}
	return dst
}

// Manifest is the application manifest: Windows 10/11, per-monitor DPI awareness (Fyne
// scales itself), common controls v6, and no elevation (asInvoker; installing the
// service asks for it separately).
func Manifest(v [4]uint16) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v1" manifestVersion="1.0">
  <assemblyIdentity type="win32" name="net.aiassist.pinclient" version="` + dotted(v) + `" processorArchitecture="amd64"/>
  <description>PIN Client</description>
  <dependency>
    <dependentAssembly>
      <assemblyIdentity type="win32" name="Microsoft.Windows.Common-Controls" version="6.0.0.0" processorArchitecture="*" publicKeyToken="6595b64144ccf1df" language="*"/>
    </dependentAssembly>
  </dependency>
  <compatibility xmlns="urn:schemas-microsoft-com:compatibility.v1">
    <application>
      <supportedOS Id="{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}"/>
    </application>
  </compatibility>
  <application xmlns="urn:schemas-microsoft-com:asm.v3">
    <windowsSettings>
      <dpiAware xmlns="http://schemas.microsoft.com/SMI/2005/WindowsSettings">true/pm</dpiAware>
      <dpiAwareness xmlns="http://schemas.microsoft.com/SMI/2016/WindowsSettings">PerMonitorV2, PerMonitor</dpiAwareness>
    </windowsSettings>
  </application>
  <trustInfo xmlns="urn:schemas-microsoft-com:asm.v3">
    <security>
      <requestedPrivileges>
        <requestedExecutionLevel level="asInvoker" uiAccess="false"/>
      </requestedPrivileges>
    </security>
  </trustInfo>
</assembly>
`
}

func dotted(v [4]uint16) string { return fmt.Sprintf("%d.%d.%d.%d", v[0], v[1], v[2], v[3]) }

// RC is the resource script: icon 1 (the first icon is the one Explorer shows), the
// manifest (resource 1 of type 24, RT_MANIFEST) and the version resource, whose strings
// show version (e.g. 3.0.0+g1234) and whose numbers are v. Numbers stand for the
// winver.h names so no header is needed.
func RC(v [4]uint16, version string) string {
	commas := fmt.Sprintf("%d,%d,%d,%d", v[0], v[1], v[2], v[3])
	q := rcString(version)
	return `// Generated by scripts/winres; do not edit.
1 ICON "pin-client.ico"
1 24 "pin-client.manifest"

1 VERSIONINFO
FILEVERSION ` + commas + `
PRODUCTVERSION ` + commas + `
FILEFLAGSMASK 0x3f
FILEFLAGS 0x0
FILEOS 0x40004
FILETYPE 0x1
FILESUBTYPE 0x0
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "PIN Client authors"
      VALUE "FileDescription", "PIN Client"
      VALUE "FileVersion", ` + q + `
      VALUE "InternalName", "pin-client"
      VALUE "LegalCopyright", "Copyright (c) 2026 PIN Client authors, MIT License"
      VALUE "OriginalFilename", "pin-client.exe"
      VALUE "ProductName", "PIN Client"
      VALUE "ProductVersion", ` + q + `
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
`
}

// rcString quotes s as a resource-script string: a quote is doubled, a backslash
// doubled, and control characters dropped.
func rcString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`""`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
