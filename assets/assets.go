// Package assets holds PIN Client's icons as PNG bytes embedded in the binary: the
// application icon and one tray icon per state. It imports nothing from Fyne, so any
// package (the GUI, a packaging step) can use the bytes.
//
// The PNGs are drawn by ./gen; regenerate them with `go generate ./assets`.
package assets

import _ "embed"

//go:generate go run ./gen -o .

// AppIcon is the application icon, 512×512 PNG (also referenced by FyneApp.toml).
//
//go:embed icon.png
var AppIcon []byte

// Tray icons, 64×64 PNG, one per state the tray shows.
var (
	//go:embed tray-online.png
	TrayOnline []byte // serving jobs
	//go:embed tray-offline.png
	TrayOffline []byte // not serving, nothing to fix
	//go:embed tray-attention.png
	TrayAttention []byte // credentials, backend or interview need the operator
)
