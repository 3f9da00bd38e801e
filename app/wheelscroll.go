package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// wheelScroll is a vertical scroll of content in which the mouse wheel scrolls the
// whole content wherever the pointer is.
//
// Fyne hands a wheel event to the innermost scrollable object under the pointer, and
// every single-line widget.Entry has a scroller of its own, which takes the event and
// does nothing with it (its one line does not scroll vertically). Over a form that is
// mostly entries, the wheel then moved the page only in the gaps between fields, which
// felt like very slow scrolling. A transparent catcher laid over the scroll is visited
// after the content, so it is the innermost scrollable everywhere and hands each wheel
// event to the page's scroll. It takes no taps, hovers or drags, so the fields beneath
// work as before.
func wheelScroll(content fyne.CanvasObject) fyne.CanvasObject {
	s := container.NewVScroll(content)
	return container.NewStack(s, newWheelCatcher(s))
}

type wheelCatcher struct {
	widget.BaseWidget
	scroll *container.Scroll
}

func newWheelCatcher(s *container.Scroll) *wheelCatcher {
	w := &wheelCatcher{scroll: s}
	w.ExtendBaseWidget(w)
	return w
}

// wheelStep scales the wheel over the page: Fyne moves 25 px a notch, half a form row,
// where desktop toolkits move about three lines (GTK: ~80 px in a window this tall).
const wheelStep = 2

// Scrolled passes the wheel to the page's scroll.
func (w *wheelCatcher) Scrolled(ev *fyne.ScrollEvent) {
	e := *ev
	e.Scrolled = fyne.Delta{DX: ev.Scrolled.DX * wheelStep, DY: ev.Scrolled.DY * wheelStep}
	w.scroll.Scrolled(&e)
}

func (w *wheelCatcher) MinSize() fyne.Size { return fyne.Size{} }

func (w *wheelCatcher) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(canvas.NewRectangle(color.Transparent))
}
