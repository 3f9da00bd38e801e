// Command traytool reads and drives the desktop app's system-tray menu over D-Bus the
// way a Linux tray host does (StatusNotifierItem plus com.canonical.dbusmenu), and draws
// the menu with Fyne's software painter. scripts/screenshots.sh uses it; it is a
// development tool and is not shipped.
//
//	traytool layout          print the menu, one item per line
//	traytool wait LABEL      wait until an enabled item labelled LABEL is in the menu
//	traytool click LABEL     click the item labelled LABEL (it must be enabled)
//	traytool render OUT.png  draw the tray icon above the open menu into a PNG
//
// It needs a session bus with a StatusNotifierWatcher (e.g. Debian's
// status-notifier-watcher) where the app has registered its tray item.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/godbus/dbus/v5"
)

func main() {
	timeout := flag.Duration("timeout", 20*time.Second, "how long wait and the look-ups may take")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: traytool [-timeout d] layout | wait LABEL | click LABEL | render OUT.png")
	}
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "traytool:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "layout" && len(args) != 2) {
		flag.Usage()
		return errors.New("bad arguments")
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("session bus: %w", err)
	}
	defer conn.Close()
	t := &tray{conn: conn}
	switch args[0] {
	case "layout":
		items, err := t.waitMenu(ctx)
		if err != nil {
			return err
		}
		for _, it := range items {
			fmt.Println(it)
		}
		return nil
	case "wait":
		_, err := t.find(ctx, args[1], true)
		return err
	case "click":
		it, err := t.find(ctx, args[1], false)
		if err != nil {
			return err
		}
		if !it.enabled {
			return fmt.Errorf("%q is disabled", it.label)
		}
		return t.menu.CallWithContext(ctx, "com.canonical.dbusmenu.Event", 0,
			it.id, "clicked", dbus.MakeVariant(int32(0)), uint32(time.Now().Unix())).Err
	case "render":
		items, err := t.waitMenu(ctx)
		if err != nil {
			return err
		}
		return render(args[1], items, t.icon(ctx))
	}
	flag.Usage()
	return fmt.Errorf("unknown command %q", args[0])
}

// item is one dbusmenu entry.
type item struct {
	id                          int32
	label                       string
	enabled, checked, separator bool
}

func (it item) String() string {
	if it.separator {
		return "----"
	}
	flags := ""
	if !it.enabled {
		flags += " (disabled)"
	}
	if it.checked {
		flags += " [x]"
	}
	return it.label + flags
}

type tray struct {
	conn *dbus.Conn
	item dbus.BusObject // the StatusNotifierItem
	menu dbus.BusObject // its dbusmenu
}

// locate finds the first registered StatusNotifierItem and its menu.
func (t *tray) locate(ctx context.Context) error {
	w := t.conn.Object("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")
	v, err := w.GetProperty("org.kde.StatusNotifierWatcher.RegisteredStatusNotifierItems")
	if err != nil {
		return fmt.Errorf("no StatusNotifierWatcher on the session bus (start status-notifier-watcher): %w", err)
	}
	names, _ := v.Value().([]string)
	if len(names) == 0 {
		return errors.New("no tray item registered yet")
	}
	service, path := names[0], dbus.ObjectPath("/StatusNotifierItem")
	if i := strings.Index(service, "/"); i > 0 {
		service, path = service[:i], dbus.ObjectPath(service[i:])
	}
	t.item = t.conn.Object(service, path)
	mv, err := t.item.GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		return fmt.Errorf("tray item has no menu: %w", err)
	}
	mp, _ := mv.Value().(dbus.ObjectPath)
	t.menu = t.conn.Object(service, mp)
	return nil
}

// items returns the top-level menu entries.
func (t *tray) items(ctx context.Context) ([]item, error) {
	if t.menu == nil {
		if err := t.locate(ctx); err != nil {
			return nil, err
		}
	}
	var rev uint32
	var root []any
	call := t.menu.CallWithContext(ctx, "com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&rev, &root); err != nil {
		return nil, fmt.Errorf("GetLayout: %w", err)
	}
	if len(root) != 3 {
		return nil, errors.New("GetLayout: unexpected layout shape")
	}
	children, _ := root[2].([]dbus.Variant)
	var out []item
	for _, c := range children {
		fields, ok := c.Value().([]any)
		if !ok || len(fields) < 2 {
			continue
		}
		id, _ := fields[0].(int32)
		props, _ := fields[1].(map[string]dbus.Variant)
		it := item{id: id, enabled: true}
		if v, ok := props["label"]; ok {
			it.label, _ = v.Value().(string)
		}
		if v, ok := props["enabled"]; ok {
			it.enabled, _ = v.Value().(bool)
		}
		if v, ok := props["visible"]; ok {
			if vis, _ := v.Value().(bool); !vis {
				continue
			}
		}
		if v, ok := props["type"]; ok && v.Value() == "separator" {
			it.separator = true
		}
		if v, ok := props["toggle-state"]; ok {
			s, _ := v.Value().(int32)
			it.checked = s == 1
		}
		out = append(out, it)
	}
	return out, nil
}

// retry calls f until it succeeds or ctx ends; the tray appears a moment after start.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-tick.C:
		}
	}
}

func (t *tray) waitMenu(ctx context.Context) ([]item, error) {
	return retry(ctx, func() ([]item, error) {
		items, err := t.items(ctx)
		if err == nil && len(items) == 0 {
			err = errors.New("the tray menu is empty")
		}
		if err != nil {
			t.menu = nil
		}
		return items, err
	})
}

func (t *tray) find(ctx context.Context, label string, enabled bool) (item, error) {
	return retry(ctx, func() (item, error) {
		items, err := t.items(ctx)
		if err != nil {
			t.menu = nil
			return item{}, err
		}
		for _, it := range items {
			if it.label == label && (it.enabled || !enabled) {
				return it, nil
			}
		}
		var labels []string
		for _, it := range items {
			labels = append(labels, it.String())
		}
		return item{}, fmt.Errorf("no item %q in %q", label, labels)
	})
}

// icon returns the tray item's largest IconPixmap (ARGB32, network byte order), or nil.
func (t *tray) icon(context.Context) image.Image {
	if t.item == nil {
		return nil
	}
	v, err := t.item.GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		return nil
	}
	var pixmaps []struct {
		W, H int32
		Data []byte
	}
	if err := dbus.Store([]any{v.Value()}, &pixmaps); err != nil || len(pixmaps) == 0 {
		return nil
	}
	best := pixmaps[0]
	for _, p := range pixmaps {
		if p.W > best.W {
			best = p
		}
	}
	w, h := int(best.W), int(best.H)
	if len(best.Data) < w*h*4 {
		return nil
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		a, r, g, b := best.Data[4*i], best.Data[4*i+1], best.Data[4*i+2], best.Data[4*i+3]
		img.SetNRGBA(i%w, i/w, color.NRGBA{R: r, G: g, B: b, A: a})
	}
	return img
}

// render draws a panel strip with the tray icon above the menu as Fyne draws menus.
func render(out string, items []item, icon image.Image) error {
	test.NewApp()
	var mis []*fyne.MenuItem
	for _, it := range items {
		if it.separator {
			mis = append(mis, fyne.NewMenuItemSeparator())
			continue
		}
		mi := fyne.NewMenuItem(it.label, func() {})
		mi.Disabled = !it.enabled
		mi.Checked = it.checked
		mis = append(mis, mi)
	}
	menu := widget.NewMenu(fyne.NewMenu("", mis...))
	var trayIcon fyne.CanvasObject = layout.NewSpacer()
	if icon != nil {
		img := canvas.NewImageFromImage(icon)
		img.SetMinSize(fyne.NewSize(24, 24))
		img.FillMode = canvas.ImageFillContain
		trayIcon = img
	}
	panel := container.NewStack(canvas.NewRectangle(color.NRGBA{0x20, 0x20, 0x24, 0xff}),
		container.NewPadded(container.NewHBox(layout.NewSpacer(), trayIcon)))
	content := container.NewVBox(panel, menu)
	//lint:ignore SA1019 the picture imitates a dark tray panel whatever the desktop's preference
	fyne.CurrentApp().Settings().SetTheme(theme.DarkTheme())
	// A test window paints with the software painter, and menus size themselves to the
	// window they are in, so the window must be the last one created.
	w := test.NewWindow(content)
	w.SetPadded(false)
	w.Resize(content.MinSize())
	img := w.Canvas().Capture()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
