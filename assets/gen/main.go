// Command gen draws PIN Client's icons as PNG files with the standard library only:
// the application icon and one tray icon per state (online, offline, attention).
// Run it through `go generate ./assets`; the output is deterministic, and a test checks
// that the committed PNGs are exactly what this program draws.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", ".", "directory to write the PNG files to")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// Files maps each output file name to the function that draws it.
var files = map[string]func() image.Image{
	"icon.png":           appIcon,
	"tray-online.png":    func() image.Image { return trayIcon(green, false) },
	"tray-offline.png":   func() image.Image { return trayIcon(grey, false) },
	"tray-attention.png": func() image.Image { return trayIcon(amber, true) },
}

func write(dir string) error {
	for name, draw := range files {
		data, err := encode(draw())
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func encode(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	navy  = color.NRGBA{0x1d, 0x2b, 0x53, 0xff}
	teal  = color.NRGBA{0x29, 0xad, 0xb2, 0xff}
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	green = color.NRGBA{0x2e, 0xa0, 0x43, 0xff}
	grey  = color.NRGBA{0x8a, 0x8f, 0x98, 0xff}
	amber = color.NRGBA{0xe8, 0x9b, 0x10, 0xff}
)

// A shape reports the colour at a point in unit coordinates (0..1 across the image) and
// whether the point is covered.
type shape func(x, y float64) (color.NRGBA, bool)

// render paints layers (first is bottom) at size×size with 4×4 supersampling, so edges
// are anti-aliased.
func render(size int, layers ...shape) image.Image {
	const ss = 4
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := range size {
		for px := range size {
			var r, g, b, a float64
			for sy := range ss {
				for sx := range ss {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					for i := len(layers) - 1; i >= 0; i-- {
						if c, ok := layers[i](x, y); ok {
							r += float64(c.R)
							g += float64(c.G)
							b += float64(c.B)
							a++
							break
						}
					}
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a)), G: uint8(math.Round(g / a)), B: uint8(math.Round(b / a)),
				A: uint8(math.Round(255 * a / ss / ss)),
			})
		}
	}
	return img
}

func disc(cx, cy, rad float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		return c, math.Hypot(x-cx, y-cy) <= rad
	}
}

// segment is a line from (x1,y1) to (x2,y2) with half-width w and round caps.
func segment(x1, y1, x2, y2, w float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		dx, dy := x2-x1, y2-y1
		t := ((x-x1)*dx + (y-y1)*dy) / (dx*dx + dy*dy)
		t = math.Max(0, math.Min(1, t))
		return c, math.Hypot(x-(x1+t*dx), y-(y1+t*dy)) <= w
	}
}

func roundedSquare(margin, radius float64, c color.NRGBA) shape {
	return func(x, y float64) (color.NRGBA, bool) {
		lo, hi := margin+radius, 1-margin-radius
		qx := math.Max(lo-x, math.Max(x-hi, 0))
		qy := math.Max(lo-y, math.Max(y-hi, 0))
		return c, math.Hypot(qx, qy) <= radius
	}
}

// network is the PIN motif: three nodes around a hub, joined to it.
func network(c color.NRGBA, scale float64) []shape {
	at := func(v float64) float64 { return 0.5 + (v-0.5)*scale }
	hub := [2]float64{at(0.5), at(0.54)}
	outer := [][2]float64{{at(0.5), at(0.24)}, {at(0.24), at(0.70)}, {at(0.76), at(0.70)}}
	var s []shape
	for _, p := range outer {
		s = append(s, segment(hub[0], hub[1], p[0], p[1], 0.035*scale, c))
	}
	for _, p := range outer {
		s = append(s, disc(p[0], p[1], 0.085*scale, c))
	}
	return append(s, disc(hub[0], hub[1], 0.11*scale, c))
}

func appIcon() image.Image {
	layers := []shape{roundedSquare(0.04, 0.2, navy)}
	layers = append(layers, network(teal, 1.0)...)
	layers = append(layers, disc(0.5, 0.54, 0.05, white))
	return render(512, layers...)
}

// trayIcon is a state-coloured disc with the white network motif, or an exclamation
// mark when the operator's attention is needed.
func trayIcon(bg color.NRGBA, exclaim bool) image.Image {
	layers := []shape{disc(0.5, 0.5, 0.47, bg)}
	if exclaim {
		layers = append(layers,
			segment(0.5, 0.22, 0.5, 0.56, 0.07, white),
			disc(0.5, 0.76, 0.075, white))
	} else {
		layers = append(layers, network(white, 0.8)...)
	}
	return render(64, layers...)
}
