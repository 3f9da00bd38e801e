package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// logView is the dashboard's recent log: monospace, long lines wrapped, and following
// the newest line (so it agrees with the state above it) unless the operator scrolled
// up to read; scrolling back to the bottom follows again.
type logView struct {
	label  *widget.Label
	scroll *container.Scroll
	follow bool
}

func newLogView() *logView {
	v := &logView{label: widget.NewLabel(""), follow: true}
	v.label.TextStyle = fyne.TextStyle{Monospace: true}
	v.label.Selectable = true
	v.label.Wrapping = fyne.TextWrapWord // a word longer than the line (an id) is broken
	v.scroll = container.NewVScroll(v.label)
	v.scroll.OnScrolled = func(fyne.Position) { v.follow = v.atBottom() }
	return v
}

// atBottom: the last line is in view (within a few pixels).
func (v *logView) atBottom() bool {
	return v.scroll.Offset.Y+v.scroll.Size().Height >= v.label.MinSize().Height-theme.Padding()
}

// setText shows text and, when following, scrolls to its last line. UI thread.
func (v *logView) setText(text string) {
	v.label.SetText(text)
	v.scroll.Refresh() // lays the label out at its new height before scrolling
	if v.follow {
		v.scroll.ScrollToBottom()
		v.follow = true // ScrollToBottom's OnScrolled may run before the size settles
	}
}

// fitTopLayout stacks two objects: the first (a scroll of content) as tall as content
// needs, up to maxShare of the height, and the second (the log) in all the rest. A
// split at a fixed share left empty space under short content.
type fitTopLayout struct {
	content  fyne.CanvasObject // what the first object scrolls
	maxShare float32
}

func (l *fitTopLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if len(objs) != 2 {
		return
	}
	pad := theme.Padding()
	bottomMin := objs[1].MinSize().Height
	height := func() float32 {
		return max(min(l.content.MinSize().Height, size.Height*l.maxShare, size.Height-bottomMin-pad), 0)
	}
	h := height()
	objs[0].Move(fyne.NewPos(0, 0))
	objs[0].Resize(fyne.NewSize(size.Width, h))
	// Wrapped text in content takes another height at the width it was just given:
	// measure once more so the log starts right under it.
	if h2 := height(); h2 != h {
		h = h2
		objs[0].Resize(fyne.NewSize(size.Width, h))
	}
	objs[1].Move(fyne.NewPos(0, h+pad))
	objs[1].Resize(fyne.NewSize(size.Width, max(size.Height-h-pad, 0)))
}

func (l *fitTopLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objs {
		m := o.MinSize()
		s.Width = max(s.Width, m.Width)
		s.Height += m.Height
	}
	return s.AddWidthHeight(0, theme.Padding())
}

// fitTop lays the dashboard's body out again when the cards and totals need another
// height (a card grew a note, a node was added), so the log starts right under them.
func (d *dashboard) fitTop() {
	if h := d.top.MinSize().Height; h != d.topHeight {
		d.topHeight = h
		d.body.Layout.Layout(d.body.Objects, d.body.Size())
	}
}
