package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/demo"
	"github.com/pin-client/pin-client/internal/demo/demotest"
)

// The app in demo mode, on Fyne's test driver: the real engine, the local gateway and
// the built-in backend (no pacing) on loopback, the demo's consumer sending requests.
// The dashboard shows jobs served, the banner is on the title, the header and the
// tray; HOME, the keyring and the control socket are never touched; Quit drains the
// engine and the demo leaves nothing behind.
func TestDemoModeShowsJobsServed(t *testing.T) {
	demotest.Guard(t, "XDG_CACHE_HOME/"+fontCache) // Fyne's own, as for any Fyne app
	d, err := demo.Start(context.Background(), demo.Options{BuiltIn: true, TokenDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	opts, err := DemoOptions(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, t.TempDir(), func(_ *harness, o *Options) {
		now := o.Now
		*o = opts
		o.Now = now
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumers := make(chan error, 1)
	// One round (the first is sent at once; the next would be an hour later): a bounded
	// number of status updates for the UI queue, and a known number of jobs.
	go func() { consumers <- d.RunConsumers(ctx, time.Hour, nil) }()

	h.u.start(false)
	h.until("a job served on the dashboard", func() bool { return h.u.last.Served >= 1 })
	if h.u.last.State != core.StateOnline {
		t.Errorf("state %v, want online", h.u.last.State)
	}
	if title := h.u.win.Title(); !strings.Contains(title, demo.Banner) {
		t.Errorf("window title %q lacks %q", title, demo.Banner)
	}
	if it := h.menu().Items[0]; it.Label != demo.Banner || !it.Disabled {
		t.Errorf("tray's first item %q (disabled %v), want the banner, disabled", it.Label, it.Disabled)
	}
	texts := demoTexts(h.u.dash.content)
	for _, want := range []string{demo.Banner, demo.BuiltInLabel, "Secret from: " + demo.SecretSource} {
		if !strings.Contains(texts, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, texts)
		}
	}
	card := h.u.dash.cards[0]
	if card.jobs.Text != "0 in flight, 1 served" {
		t.Errorf("node card jobs %q, want jobs served", card.jobs.Text)
	}
	if !strings.Contains(h.u.dash.totals.Text, "served") || card.tokens.Text == "" || card.tokens.Text == "0" {
		t.Errorf("totals %q, tokens %q: want jobs and tokens counted", h.u.dash.totals.Text, card.tokens.Text)
	}

	cancel()
	if err := <-consumers; err != nil {
		t.Errorf("consumers: %v", err)
	}
	h.tapMenu("Quit")
	h.until("the engine drained and the app quit", func() bool { return h.fa.quits == 1 })
	if h.u.eng != nil {
		t.Error("the demo engine still runs after Quit")
	}
}

// fontCache is the font index Fyne's test driver writes into the cache directory.
const fontCache = "font_index_v5.cache"

// The first-run setup screen offers the demo; the button starts it.
func TestSetupOffersDemo(t *testing.T) {
	started := make(chan struct{}, 1)
	h := newHarness(t, t.TempDir(), func(_ *harness, o *Options) {
		o.StartDemo = func() error { started <- struct{}{}; return nil }
	})
	h.u.start(false)
	h.pump()
	btn := demoButton(h.u.win.Content(), "Try the demo (no account needed)")
	if btn == nil {
		t.Fatalf("no demo button on the setup screen:\n%s", demoTexts(h.u.win.Content()))
	}
	test.Tap(btn)
	h.until("the demo started", func() bool {
		select {
		case <-started:
			return true
		default:
			return false
		}
	})
	h.until("the operator was told", func() bool { return strings.Contains(h.u.message, demo.Banner) })
}

// Settings (a saved config) does not offer the demo, nor does a build without it.
func TestSetupWithoutDemo(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.u.start(false)
	h.pump()
	if demoButton(h.u.win.Content(), "Try the demo (no account needed)") != nil {
		t.Error("the demo is offered although the app cannot start it")
	}
}

// demoTexts joins the text of every label, card and button under o.
func demoTexts(o any) string {
	var b strings.Builder
	demoWalk(o, func(x any) {
		switch w := x.(type) {
		case *widget.Label:
			b.WriteString(w.Text + "\n")
		case *widget.RichText:
			b.WriteString(w.String() + "\n")
		case *widget.Card:
			b.WriteString(w.Title + " | " + w.Subtitle + "\n")
		case *widget.Button:
			b.WriteString("[" + w.Text + "]\n")
		}
	})
	return b.String()
}

// demoButton is the visible button with this text under o, or nil.
func demoButton(o any, text string) *widget.Button {
	var found *widget.Button
	demoWalk(o, func(x any) {
		if b, ok := x.(*widget.Button); ok && b.Text == text && b.Visible() {
			found = b
		}
	})
	return found
}

// demoWalk calls f for o and everything under it: containers' objects and whatever a
// widget's renderer draws.
func demoWalk(o any, f func(any)) {
	f(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			demoWalk(c, f)
		}
	case *widget.Label, *widget.Button, *widget.RichText:
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			demoWalk(c, f)
		}
	}
}
