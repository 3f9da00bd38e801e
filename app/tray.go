package app

import (
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/systray"

	_ "github.com/pin-client/pin-client/app/internal/clocale" // a language under LANG=C.UTF-8
	"github.com/pin-client/pin-client/app/present"
)

// tooltipHost is a tray that can show a tooltip over its icon. Fyne 2.7's desktop.App
// has no tooltip call, so the real tray (systemTray) sets it on fyne.io/systray, the
// tray library Fyne itself drives.
type tooltipHost interface {
	SetTooltip(string)
}

// systemTray is Fyne's desktop app with the tray tooltip added.
type systemTray struct{ desktop.App }

// SetTooltip shows text when the pointer rests on the tray icon (StatusNotifierItem
// ToolTip on Linux, the icon's tip on Windows and macOS). It may be called before the
// tray runs: systray keeps the text and uses it once the icon is registered.
func (systemTray) SetTooltip(text string) { systray.SetTooltip(text) }

// trayTooltip is the tray icon's tooltip: the app's name and its state, with the reason
// when there is one ("PIN Client: Reconnecting\nthe gateway closed the link; retrying in 5 s").
func trayTooltip(sum present.Summary) string {
	tip := "PIN Client: " + sum.Title
	if sum.Reason != "" {
		tip += "\n" + sum.Reason
	}
	return tip
}

// setTooltip updates the tray tooltip when it changed. UI thread.
func (u *UI) setTooltip(sum present.Summary) {
	t, ok := u.tray.(tooltipHost)
	if !ok {
		return
	}
	if tip := trayTooltip(sum); tip != u.tooltip {
		u.tooltip = tip
		t.SetTooltip(tip)
	}
}

// Checkbox glyphs for tray items that are on or off: a tray shows a native check mark
// only for an item that is on (Fyne makes a checkbox item only when Checked is set), so
// an item that is off looked like a plain command. The state is in the label both ways.
const (
	boxOn  = "☑ "
	boxOff = "☐ "
)

// trayLabel is the label the tray shows for it: checkbox items carry their state.
func trayLabel(it present.MenuItem) string {
	if it.Item != present.ItemAutostart {
		return it.Label
	}
	if it.Checked {
		return boxOn + it.Label
	}
	return boxOff + it.Label
}
