package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/app/present"
	"github.com/pin-client/pin-client/core"
)

// dashboard shows the engine's state: the state in words with the reason, the gateway
// link, one card per node, totals and the recent log.
type dashboard struct {
	u *UI

	title     *widget.Label
	reason    *widget.Label
	engine    *widget.Label // which engine is shown: this app, the service, a terminal daemon
	link      *widget.Label
	secret    *widget.Label
	toggle    *widget.Button
	resume    *widget.Button // shown while paused, as the tray's Resume
	reconnect *widget.Button
	settings  *widget.Button
	nodesBox  *fyne.Container
	top       *fyne.Container // nodesBox and totals, in the scroll
	rateSlot  *fyne.Container // the throughput line (throughput.go) goes here
	body      *fyne.Container // the scroll of top over the log, top as tall as it needs
	topHeight float32         // top's height when body was last laid out
	cards     []*nodeCard
	built     bool // nodesBox holds the cards for len(cards) nodes
	totals    *widget.Label
	log       *logView
	logText   string
	copyLog   *widget.Button
	content   fyne.CanvasObject
}

// nodeCard is one node's card. Its labels are updated in place; cards are rebuilt only
// when the number of nodes changes.
type nodeCard struct {
	card                                       *widget.Card
	models, tier, jobs, tokens, earnings, note *widget.Label
}

func newDashboard(u *UI) *dashboard {
	d := &dashboard{u: u}
	d.title = widget.NewLabel("Offline")
	d.title.TextStyle = fyne.TextStyle{Bold: true}
	d.title.SizeName = theme.SizeNameHeadingText
	d.reason = widget.NewLabel("")
	d.reason.Wrapping = fyne.TextWrapWord
	d.engine = widget.NewLabel("")
	d.engine.Truncation = fyne.TextTruncateEllipsis
	d.link = widget.NewLabel("")
	d.link.Truncation = fyne.TextTruncateEllipsis
	d.secret = widget.NewLabel("")
	d.toggle = widget.NewButton("Go online", func() { u.toggle() })
	d.toggle.Importance = widget.HighImportance
	d.resume = widget.NewButtonWithIcon("Resume", theme.MediaPlayIcon(), func() { u.resume() })
	d.resume.Importance = widget.HighImportance
	d.resume.Hide()
	d.reconnect = widget.NewButton("Reconnect now", func() { u.reconnect() })
	d.settings = widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), func() { u.showSetup() })
	d.nodesBox = container.NewVBox()
	d.totals = widget.NewLabel("")
	d.totals.Wrapping = fyne.TextWrapWord
	d.log = newLogView()
	d.copyLog = widget.NewButtonWithIcon("Copy log", theme.ContentCopyIcon(), func() {
		u.fa.Clipboard().SetContent(d.logText)
	})

	d.rateSlot = container.NewStack()
	header := container.NewVBox(
		demoHeader(u),
		container.NewBorder(nil, nil, nil, container.NewHBox(d.reconnect, d.resume, d.toggle, d.settings), d.title),
		d.reason,
		// The throughput line sits beside the engine, secret and gateway lines, so it
		// costs the cards and the log no height.
		container.NewBorder(nil, nil, nil, d.rateSlot, container.NewVBox(d.engine, d.secret, d.link)),
		widget.NewSeparator(),
	)
	logBox := container.NewBorder(
		container.NewBorder(nil, nil, widget.NewLabelWithStyle("Recent log", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), d.copyLog),
		nil, nil, nil,
		d.log.scroll,
	)
	d.top = container.NewVBox(d.nodesBox, d.totals)
	d.body = container.New(&fitTopLayout{content: d.top, maxShare: 0.65}, container.NewVScroll(d.top), logBox)
	d.content = container.NewBorder(header, nil, nil, nil, d.body)
	return d
}

// update shows snapshot s, summarised as sum, with menu the tray menu built from it and
// engine the line saying which engine it comes from. UI thread.
func (d *dashboard) update(s core.Status, sum present.Summary, menu []present.MenuItem, engine string) {
	d.engine.SetText("Engine: " + engine)
	d.title.SetText(sum.Title)
	d.reason.SetText(sum.Reason)
	if sum.Reason == "" {
		d.reason.Hide()
	} else {
		d.reason.Show()
	}
	d.reason.Importance = widget.MediumImportance
	if sum.Icon == present.IconAttention {
		d.reason.Importance = widget.WarningImportance
	}
	d.reason.Refresh()
	if line := present.TransportLine(s); line != "" {
		d.link.SetText("Gateway: " + line)
	} else {
		d.link.SetText("")
	}
	if s.SecretSource != "" {
		d.secret.SetText("Secret from: " + s.SecretSource)
	} else {
		d.secret.SetText("")
	}

	// The buttons mirror the tray's toggle and reconnect items.
	d.reconnect.Hide()
	d.resume.Hide()
	d.toggle.Importance = widget.HighImportance
	for _, it := range menu {
		switch it.Item {
		case present.ItemToggle:
			d.toggle.SetText(it.Label)
			setEnabled(d.toggle, it.Enabled)
		case present.ItemReconnect:
			d.reconnect.Show()
		case present.ItemResume:
			// While paused, Resume is what the operator is after; the toggle steps back.
			d.resume.Show()
			d.toggle.Importance = widget.MediumImportance
		}
	}
	d.toggle.Refresh()

	rows := present.Nodes(s)
	relayout := false // a card's height changed: the boxes under it must move
	if !d.built || len(rows) != len(d.cards) {
		d.built, relayout = true, true
		d.cards = d.cards[:0]
		d.nodesBox.RemoveAll()
		for range rows {
			c := newNodeCard()
			d.cards = append(d.cards, c)
			d.nodesBox.Add(c.card)
		}
		if len(rows) == 0 {
			d.nodesBox.Add(widget.NewLabel("No nodes yet: open Settings to add one."))
		}
	}
	for i, r := range rows {
		relayout = d.cards[i].set(r, s.Nodes[i]) || relayout
	}
	if relayout {
		// Changing a card's texts or showing its note does not lay its parents out again;
		// without this the totals line is drawn over a grown card.
		d.nodesBox.Refresh()
		d.top.Refresh()
	}
	t := present.Total(s)
	d.totals.SetText("Totals: " + t.InFlight + " · " + t.Served + " · " + t.Tokens + " · " + t.Earnings)

	if text := present.LogText(s.Log); text != d.logText {
		d.logText = text
		d.log.setText(text)
	}
	d.fitTop()
}

func newNodeCard() *nodeCard {
	c := &nodeCard{
		models: widget.NewLabel(""), tier: widget.NewLabel(""), jobs: widget.NewLabel(""),
		tokens: widget.NewLabel(""), earnings: widget.NewLabel(""), note: widget.NewLabel(""),
	}
	c.models.Wrapping = fyne.TextWrapWord
	c.note.Wrapping = fyne.TextWrapWord
	c.note.Importance = widget.WarningImportance
	form := widget.NewForm(
		widget.NewFormItem("Models", c.models),
		widget.NewFormItem("Interview", c.tier),
		widget.NewFormItem("Jobs", c.jobs),
		widget.NewFormItem("Tokens", c.tokens),
		widget.NewFormItem("Est. earnings", c.earnings),
	)
	c.card = widget.NewCard("", "", container.NewVBox(form, c.note))
	return c
}

// set shows row r of node n; it reports whether the card's height may have changed (a
// title, subtitle or note appeared or went).
func (c *nodeCard) set(r present.NodeRow, n core.NodeStatus) (resized bool) {
	resized = (c.card.Title == "") != (r.Alias == "") || (c.card.Subtitle == "") != (r.Backend == "") || c.models.Text != r.Models
	c.card.SetTitle(r.Alias)
	c.card.SetSubTitle(r.Backend)
	c.models.SetText(r.Models)
	tier := "not interviewed yet"
	switch {
	case r.Accuracy != "—":
		tier = "tier " + r.Tier + ", accuracy " + r.Accuracy + ", " + r.Speed
	case r.Tier != "—":
		tier = "tier " + r.Tier
	}
	c.tier.SetText(tier)
	c.jobs.SetText(r.InFlight + " in flight, " + r.Served + " served")
	c.tokens.SetText(r.Tokens)
	c.earnings.SetText(r.Earnings)
	note := n.BackendError
	if note == "" {
		note = n.Degraded
	}
	if note == "" && n.Tier == "failed" {
		note = n.InterviewNote
	}
	resized = resized || c.note.Visible() != (note != "") || (note != "" && note != c.note.Text)
	c.note.SetText(note)
	if note == "" {
		c.note.Hide()
	} else {
		c.note.Show()
	}
	return resized
}

func setEnabled(w fyne.Disableable, on bool) {
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}

// showDashboard puts the dashboard in the window. UI thread.
func (u *UI) showDashboard() {
	u.setup = nil
	u.win.SetContent(u.views.content())
}
