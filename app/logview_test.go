package app

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/core"
)

func logLines(n int, last string) []core.LogLine {
	var out []core.LogLine
	for i := range n {
		out = append(out, core.LogLine{Time: time.Unix(int64(i), 0), Level: slog.LevelInfo, Message: fmt.Sprintf("line %d", i)})
	}
	return append(out, core.LogLine{Time: time.Unix(int64(n), 0), Level: slog.LevelInfo, Message: last})
}

// TestLogFollowsNewestLine: the recent log shows its newest line as lines arrive, stays
// where the operator scrolled up to, follows again at the bottom, and wraps long lines.
func TestLogFollowsNewestLine(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(false)
	h.u.win.Resize(fyne.NewSize(860, 720))
	d := h.u.dash
	v := d.log
	s := h.u.last

	s.Log = logLines(80, "state online")
	h.u.apply(s)
	if !v.atBottom() || v.scroll.Offset.Y == 0 {
		t.Fatalf("after 80 lines: offset %v of %v in %v; want the newest line in view", v.scroll.Offset.Y, v.label.MinSize().Height, v.scroll.Size().Height)
	}

	// The operator scrolls up to read: new lines do not pull the view away.
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(v.scroll).AddXY(20, 20)
	test.Scroll(h.u.win.Canvas(), pos, 0, 200)
	readAt := v.scroll.Offset.Y
	if v.follow || v.atBottom() {
		t.Fatalf("after scrolling up: follow %v, offset %v", v.follow, readAt)
	}
	s.Log = logLines(90, "state offline")
	h.u.apply(s)
	if v.scroll.Offset.Y != readAt {
		t.Errorf("a new line moved the view the operator scrolled to: %v → %v", readAt, v.scroll.Offset.Y)
	}

	// Back at the bottom, it follows again.
	test.Scroll(h.u.win.Canvas(), pos, 0, -100000)
	s.Log = logLines(100, "state online again")
	h.u.apply(s)
	if !v.atBottom() {
		t.Errorf("after scrolling back down, the newest line is not in view (offset %v)", v.scroll.Offset.Y)
	}

	// A long line wraps within the width instead of running off the edge.
	s.Log = logLines(0, "backend error "+strings.Repeat("x", 400))
	h.u.apply(s)
	oneLine := fyne.MeasureText("x", fyne.CurrentApp().Settings().Theme().Size("text"), fyne.TextStyle{Monospace: true}).Height
	if w, ht := v.label.Size().Width, v.label.MinSize().Height; w > v.scroll.Size().Width || ht < 3*oneLine {
		t.Errorf("long line: label width %v in %v, height %v (one line %v): want it wrapped", w, v.scroll.Size().Width, ht, oneLine)
	}
}

// TestDashboardNoGapAboveLog: the node cards and totals take the height they need, and
// the log starts right under them.
func TestDashboardNoGapAboveLog(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(false)
	h.u.win.Resize(fyne.NewSize(860, 720))
	d := h.u.dash
	h.u.apply(h.u.last)
	objs := d.body.Objects
	topH, need := objs[0].Size().Height, d.top.MinSize().Height
	if topH != need {
		t.Errorf("cards and totals area is %v high for %v of content", topH, need)
	}
	if gap := objs[1].Position().Y - topH; gap > 2*fyne.CurrentApp().Settings().Theme().Size("padding") {
		t.Errorf("gap above the log: %v", gap)
	}
}
