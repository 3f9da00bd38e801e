package assets

import (
	"bytes"
	"image/png"
	"testing"
)

func TestIcons(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		size int
	}{
		{"AppIcon", AppIcon, 512},
		{"TrayOnline", TrayOnline, 64},
		{"TrayOffline", TrayOffline, 64},
		{"TrayAttention", TrayAttention, 64},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		img, err := png.Decode(bytes.NewReader(tt.data))
		if err != nil {
			t.Errorf("%s: not a PNG: %v", tt.name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != tt.size || b.Dy() != tt.size {
			t.Errorf("%s is %v, want %d×%d", tt.name, b, tt.size, tt.size)
		}
		if other, dup := seen[string(tt.data)]; dup {
			t.Errorf("%s is the same image as %s; each state needs its own icon", tt.name, other)
		}
		seen[string(tt.data)] = tt.name
		// Corners are transparent, the centre is opaque: a real icon, not a blank square.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%s: corner is not transparent", tt.name)
		}
		if _, _, _, a := img.At(tt.size/2, tt.size/2).RGBA(); a != 0xffff {
			t.Errorf("%s: centre is not opaque", tt.name)
		}
	}
}
