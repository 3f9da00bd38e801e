package app

// The Activity view's charts are drawn on the Fyne canvas (canvas.Rectangle, Line,
// Circle and Text in a custom widget), not with a plotting library. The Go plotting
// libraries on the module proxy (gonum/plot, go-echarts, go-chart) render to images or
// HTML: a chart would be a bitmap re-rendered on every resize and theme change, drawn
// in its own fonts and colours, and gonum/plot alone would add a large dependency tree
// to the GUI build. The charts here need only bars, lines, axis labels and a legend;
// drawn as canvas objects they take the theme's colours and fonts (light and dark),
// stay sharp at any scale, and are inspected by widget tests like any other widget.

import (
	"image/color"
	"math"
	"strconv"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// chartKind is how a chart draws its series.
type chartKind int

const (
	chartBars  chartKind = iota // one bar per point, step wide (the first series only)
	chartLines                  // a line per series; points more than 1.5 steps apart are not joined
	chartRows                   // horizontal bars, one row per category (outcomes)
)

// point is one value at a time.
type point struct {
	t time.Time
	v float64
}

// series is one named line (or the bars) of a chart.
type series struct {
	name  string
	color fyne.ThemeColorName // a theme colour name (theme.ColorNamePrimary) or a series colour (colorBlue)
	pts   []point
}

// category is one row of a chartRows chart.
type category struct {
	label string
	value float64
	color fyne.ThemeColorName
}

// chart is a small time chart (or, for chartRows, a row chart) drawn on the canvas:
// a title with a note on the right, a y axis with round ticks and grid lines, time
// labels under the x axis, a legend for several series, and a message when there is
// nothing to draw. Set its fields and call Refresh; UI thread.
type chart struct {
	widget.BaseWidget

	title    string
	note     string // a summary shown right of the title, e.g. "1.2M in total"
	kind     chartKind
	from, to time.Time     // the x range
	step     time.Duration // one bar or one line sample, e.g. an hour
	daily    bool          // bars are days: label each bar with its weekday
	series   []series
	cats     []category
	format   func(float64) string // y values and tick labels
	empty    string               // shown over the plot when there is nothing to draw
	loc      *time.Location       // for the time labels; nil → time.Local
	compact  bool                 // a small line in another view: small title, no legend, 2 ticks
	minSize  fyne.Size
}

func newChart(title string, kind chartKind, format func(float64) string) *chart {
	c := &chart{title: title, kind: kind, format: format, empty: "No jobs in this period", minSize: fyne.NewSize(360, 175)}
	c.ExtendBaseWidget(c)
	return c
}

func (c *chart) CreateRenderer() fyne.WidgetRenderer {
	return &chartRenderer{c: c}
}

// hasData reports whether any value is non-zero.
func (c *chart) hasData() bool {
	for _, s := range c.series {
		for _, p := range s.pts {
			if p.v != 0 {
				return true
			}
		}
	}
	for _, k := range c.cats {
		if k.value != 0 {
			return true
		}
	}
	return false
}

// chartRenderer rebuilds its canvas objects on every layout and refresh; a chart has a
// few hundred of them at most.
type chartRenderer struct {
	c    *chart
	size fyne.Size
	objs []fyne.CanvasObject
	// What the last layout drew, for tests.
	bars, lines, dots int
}

func (r *chartRenderer) Destroy()                     {}
func (r *chartRenderer) Objects() []fyne.CanvasObject { return r.objs }
func (r *chartRenderer) MinSize() fyne.Size           { return r.c.minSize }
func (r *chartRenderer) Refresh() {
	r.Layout(r.size)
	canvas.Refresh(r.c)
}

func (r *chartRenderer) Layout(size fyne.Size) {
	r.size = size
	r.objs = r.objs[:0]
	r.bars, r.lines, r.dots = 0, 0, 0
	if size.Width <= 0 || size.Height <= 0 {
		return
	}
	c := r.c
	pad := theme.Padding()
	textSize := theme.TextSize()
	small := textSize - 2
	fg := theme.Color(theme.ColorNameForeground)
	muted := theme.Color(theme.ColorNamePlaceHolder)

	// Title and note.
	margin := 2 * pad // between charts in a grid
	yTicks := 4
	if c.compact {
		textSize, margin, yTicks = small, 0, 2
	}
	title := canvas.NewText(c.title, fg)
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.TextSize = textSize
	title.Move(fyne.NewPos(pad, margin))
	r.add(title)
	top := margin + fyne.MeasureText(c.title, textSize, title.TextStyle).Height + pad
	titleW := fyne.MeasureText(c.title, textSize, title.TextStyle).Width
	// The note goes right of the title, and only where it fits beside it.
	if w := fyne.MeasureText(c.note, small, fyne.TextStyle{}).Width; c.note != "" && pad+titleW+2*pad+w+pad <= size.Width {
		note := canvas.NewText(c.note, muted)
		note.TextSize = small
		note.Move(fyne.NewPos(size.Width-w-pad, margin+(textSize-small)/2))
		r.add(note)
	}
	// Legend: one swatch and name per series, when there are several (or the series
	// are nodes: a single node is named too).
	if c.kind == chartLines && len(c.series) > 0 && !c.compact {
		x := pad
		lh := fyne.MeasureText("M", small, fyne.TextStyle{}).Height
		for _, s := range c.series {
			sw := canvas.NewRectangle(r.color(s.color))
			sw.Resize(fyne.NewSize(10, 10))
			sw.Move(fyne.NewPos(x, top+(lh-10)/2))
			r.add(sw)
			t := canvas.NewText(s.name, fg)
			t.TextSize = small
			t.Move(fyne.NewPos(x+14, top))
			r.add(t)
			x += 14 + fyne.MeasureText(s.name, small, fyne.TextStyle{}).Width + 2*pad
		}
		top += lh + pad/2
	}
	if c.kind == chartRows {
		r.layoutRows(size, top)
		return
	}

	// The y axis: round ticks from 0 to above the largest value.
	maxV := 0.0
	for _, s := range c.series {
		for _, p := range s.pts {
			maxV = math.Max(maxV, p.v)
		}
	}
	ticks := niceTicks(maxV, yTicks)
	yMax := ticks[len(ticks)-1]
	labelW := float32(0)
	for _, t := range ticks {
		labelW = max(labelW, fyne.MeasureText(c.fmt(t), small, fyne.TextStyle{}).Width)
	}
	lineH := fyne.MeasureText("0", small, fyne.TextStyle{}).Height
	plot := fyne.NewPos(pad+labelW+pad, top+lineH/2)
	pw := size.Width - plot.X - pad
	ph := size.Height - plot.Y - lineH - pad
	if pw < 20 || ph < 20 {
		return
	}
	grid := theme.Color(theme.ColorNameSeparator)
	for _, t := range ticks {
		y := plot.Y + ph - float32(t/yMax)*ph
		l := canvas.NewLine(grid)
		l.StrokeWidth = 1
		l.Position1, l.Position2 = fyne.NewPos(plot.X, y), fyne.NewPos(plot.X+pw, y)
		r.add(l)
		lab := canvas.NewText(c.fmt(t), muted)
		lab.TextSize = small
		w := fyne.MeasureText(lab.Text, small, fyne.TextStyle{}).Width
		lab.Move(fyne.NewPos(plot.X-pad-w, y-lineH/2))
		r.add(lab)
	}
	axis := canvas.NewLine(theme.Color(theme.ColorNameDisabled))
	axis.StrokeWidth = 1
	axis.Position1, axis.Position2 = fyne.NewPos(plot.X, plot.Y+ph), fyne.NewPos(plot.X+pw, plot.Y+ph)
	r.add(axis)

	span := c.to.Sub(c.from)
	if span <= 0 {
		return
	}
	xOf := func(t time.Time) float32 { return plot.X + float32(float64(t.Sub(c.from))/float64(span))*pw }
	yOf := func(v float64) float32 { return plot.Y + ph - float32(v/yMax)*ph }

	// Time labels under the axis.
	for _, tk := range c.timeTicks() {
		x := xOf(tk.t)
		if c.kind == chartBars && c.daily {
			x = xOf(tk.t.Add(c.step / 2))
		}
		w := fyne.MeasureText(tk.label, small, fyne.TextStyle{}).Width
		x = min(max(x-w/2, plot.X-w/4), plot.X+pw-w)
		lab := canvas.NewText(tk.label, muted)
		lab.TextSize = small
		lab.Move(fyne.NewPos(x, plot.Y+ph+pad/2))
		r.add(lab)
	}

	switch c.kind {
	case chartBars:
		if len(c.series) == 0 {
			break
		}
		s := c.series[0]
		bw := float32(float64(c.step)/float64(span)) * pw
		gap := float32(0)
		if bw > 4 {
			gap = max(1, bw/6)
		}
		col := r.color(s.color)
		for _, p := range s.pts {
			if p.v <= 0 {
				continue
			}
			y := yOf(p.v)
			b := canvas.NewRectangle(col)
			b.Move(fyne.NewPos(xOf(p.t)+gap/2, y))
			b.Resize(fyne.NewSize(max(bw-gap, 1), plot.Y+ph-y))
			r.add(b)
			r.bars++
			if c.daily && bw > 30 { // few wide bars: write each value on top
				v := canvas.NewText(c.fmt(p.v), fg)
				v.TextSize = small
				w := fyne.MeasureText(v.Text, small, fyne.TextStyle{}).Width
				v.Move(fyne.NewPos(xOf(p.t)+bw/2-w/2, max(y-lineH, plot.Y-lineH/2)))
				r.add(v)
			}
		}
	case chartLines:
		for _, s := range c.series {
			col := r.color(s.color)
			for i, p := range s.pts {
				joinedPrev := i > 0 && p.t.Sub(s.pts[i-1].t) <= c.step*3/2
				joinedNext := i+1 < len(s.pts) && s.pts[i+1].t.Sub(p.t) <= c.step*3/2
				if joinedPrev {
					q := s.pts[i-1]
					l := canvas.NewLine(col)
					l.StrokeWidth = 2
					l.Position1 = fyne.NewPos(xOf(q.t.Add(c.step/2)), yOf(q.v))
					l.Position2 = fyne.NewPos(xOf(p.t.Add(c.step/2)), yOf(p.v))
					r.add(l)
					r.lines++
				}
				if !joinedPrev && !joinedNext || len(s.pts) <= 48 { // a lone point, or few: mark it
					d := canvas.NewCircle(col)
					d.Resize(fyne.NewSize(5, 5))
					d.Move(fyne.NewPos(xOf(p.t.Add(c.step/2))-2.5, yOf(p.v)-2.5))
					r.add(d)
					r.dots++
				}
			}
		}
	}
	if !c.hasData() {
		r.emptyText(plot, pw, ph)
	}
}

// layoutRows draws one labelled horizontal bar per category, with its count and share.
func (r *chartRenderer) layoutRows(size fyne.Size, top float32) {
	c := r.c
	pad := theme.Padding()
	textSize := theme.TextSize()
	fg := theme.Color(theme.ColorNameForeground)
	total, maxV := 0.0, 0.0
	labelW, valueW := float32(0), float32(0)
	values := make([]string, len(c.cats))
	for _, k := range c.cats {
		total += k.value
		maxV = math.Max(maxV, k.value)
	}
	for i, k := range c.cats {
		labelW = max(labelW, fyne.MeasureText(k.label, textSize, fyne.TextStyle{}).Width)
		values[i] = c.fmt(k.value)
		if total > 0 {
			values[i] += " (" + percent(k.value/total) + ")"
		}
		valueW = max(valueW, fyne.MeasureText(values[i], textSize, fyne.TextStyle{}).Width)
	}
	if len(c.cats) == 0 || !c.hasData() {
		r.emptyText(fyne.NewPos(pad, top), size.Width-2*pad, size.Height-top-pad)
		return
	}
	rowH := fyne.MeasureText("M", textSize, fyne.TextStyle{}).Height + pad
	barX := pad + labelW + 2*pad
	barMax := size.Width - barX - valueW - 3*pad
	for i, k := range c.cats {
		y := top + float32(i)*rowH
		if y+rowH > size.Height {
			break
		}
		lab := canvas.NewText(k.label, fg)
		lab.TextSize = textSize
		lab.Move(fyne.NewPos(pad, y))
		r.add(lab)
		w := float32(0)
		if maxV > 0 && barMax > 0 {
			w = float32(k.value/maxV) * barMax
		}
		if k.value > 0 {
			w = max(w, 2)
			b := canvas.NewRectangle(r.color(k.color))
			b.Move(fyne.NewPos(barX, y+pad/2))
			b.Resize(fyne.NewSize(w, rowH-pad))
			r.add(b)
			r.bars++
		}
		v := canvas.NewText(values[i], fg)
		v.TextSize = textSize
		v.Move(fyne.NewPos(barX+w+pad, y))
		r.add(v)
	}
}

func (r *chartRenderer) emptyText(at fyne.Position, w, h float32) {
	t := canvas.NewText(r.c.empty, theme.Color(theme.ColorNamePlaceHolder))
	t.TextSize = theme.TextSize()
	s := fyne.MeasureText(t.Text, t.TextSize, fyne.TextStyle{})
	t.Move(fyne.NewPos(at.X+(w-s.Width)/2, at.Y+(h-s.Height)/2))
	r.add(t)
}

func (r *chartRenderer) add(o fyne.CanvasObject) { r.objs = append(r.objs, o) }

// Series colours that are not theme roles: the nodes of the per-node charts (and the
// jobs and earnings bars) need hues that stay apart from each other. They are the
// hues Fyne offers as primary colours, chosen to read on light and dark themes.
const (
	colorBlue   fyne.ThemeColorName = "pin.blue"
	colorOrange fyne.ThemeColorName = "pin.orange"
	colorPurple fyne.ThemeColorName = "pin.purple"
	colorGreen  fyne.ThemeColorName = "pin.green"
	colorBrown  fyne.ThemeColorName = "pin.brown"
	colorRed    fyne.ThemeColorName = "pin.red"
)

var seriesColors = map[fyne.ThemeColorName]color.Color{
	colorBlue:   color.NRGBA{R: 0x29, G: 0x6f, B: 0xf6, A: 0xff},
	colorOrange: color.NRGBA{R: 0xff, G: 0x98, B: 0x00, A: 0xff},
	colorPurple: color.NRGBA{R: 0x9c, G: 0x27, B: 0xb0, A: 0xff},
	colorGreen:  color.NRGBA{R: 0x8b, G: 0xc3, B: 0x4a, A: 0xff},
	colorBrown:  color.NRGBA{R: 0x79, G: 0x55, B: 0x48, A: 0xff},
	colorRed:    color.NRGBA{R: 0xf4, G: 0x43, B: 0x36, A: 0xff},
}

// color is a theme colour by name (theme.ColorNamePrimary …), or one of the series
// colours above.
func (r *chartRenderer) color(name fyne.ThemeColorName) color.Color {
	if name == "" {
		return theme.Color(theme.ColorNamePrimary)
	}
	if c, ok := seriesColors[name]; ok {
		return c
	}
	return theme.Color(name)
}

func (c *chart) fmt(v float64) string {
	if c.format == nil {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return c.format(v)
}

// timeTick is a labelled time on the x axis.
type timeTick struct {
	t     time.Time
	label string
}

// timeTicks labels the x axis: each day for daily bars ("Mon 2"); midnights ("Tue 3")
// for a span over a day and a half; every 2 minutes for one of 2 hours or less;
// every 6 hours ("18:00") otherwise.
func (c *chart) timeTicks() []timeTick {
	loc := c.loc
	if loc == nil {
		loc = time.Local
	}
	from, to := c.from.In(loc), c.to.In(loc)
	var out []timeTick
	switch {
	case c.daily:
		for d := startOfDay(from); d.Before(to); d = d.AddDate(0, 0, 1) {
			if !d.Before(from) {
				out = append(out, timeTick{d, d.Format("Mon 2")})
			}
		}
	case to.Sub(from) <= 2*time.Hour: // minutes: every 2 minutes
		for m := from.Truncate(2 * time.Minute); m.Before(to); m = m.Add(2 * time.Minute) {
			if !m.Before(from) {
				out = append(out, timeTick{m, m.Format("15:04")})
			}
		}
	case to.Sub(from) > 36*time.Hour:
		for d := startOfDay(from).AddDate(0, 0, 1); d.Before(to); d = d.AddDate(0, 0, 1) {
			out = append(out, timeTick{d, d.Format("Mon 2")})
		}
	default:
		h := from.Truncate(time.Hour)
		for ; h.Before(to); h = h.Add(time.Hour) {
			if !h.Before(from) && h.Hour()%6 == 0 {
				out = append(out, timeTick{h, h.Format("15:04")})
			}
		}
	}
	return out
}

func startOfDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// niceTicks returns n+1 or fewer round ticks from 0 covering maxV (0, 1 when maxV is 0).
func niceTicks(maxV float64, n int) []float64 {
	if maxV <= 0 || math.IsNaN(maxV) || math.IsInf(maxV, 0) {
		return []float64{0, 1}
	}
	raw := maxV / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; ; v += step {
		out = append(out, v)
		if v >= maxV*(1-1e-9) {
			break
		}
	}
	return out
}

// ---- value formats ----

// count is a number of jobs or tokens in few characters: 950, 12.3k, 4.5M.
func count(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	default:
		return trim(v)
	}
}

func trim(v float64) string {
	if math.Abs(v) >= 100 || v == math.Trunc(v) {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	if math.Abs(v) >= 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

// dollars is an estimated amount in USD: $0.42, $12.30, $0.004.
func dollars(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case math.Abs(v) < 0.01:
		return "$" + strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// millis is a duration given in milliseconds: 850 ms, 1.2 s.
func millis(v float64) string {
	if v >= 1000 {
		return trim(v/1000) + " s"
	}
	return trim(v) + " ms"
}

func percent(f float64) string {
	p := f * 100
	if p > 0 && p < 1 {
		return "<1%"
	}
	return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
}
