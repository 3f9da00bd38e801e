package app

import (
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/internal/config"
)

// ownerForm is the Settings section for the owner controls (docs/owner-controls.md):
// serving hours ("schedule") and "pause while this machine is busy" ("pauseWhenBusy").
// It writes the same config keys the daemon reads, validated by the same rules.
type ownerForm struct {
	schedOn *widget.Check
	from    *widget.Entry
	to      *widget.Entry
	days    *widget.CheckGroup

	busyOn *widget.Check
	cpu    *widget.Entry
	gpu    *widget.Entry
	secs   *widget.Entry

	box fyne.CanvasObject
}

// dayLabels are the day checkboxes, Monday first, with their config names.
var dayLabels = [...]struct{ label, name string }{
	{"Mon", "mon"}, {"Tue", "tue"}, {"Wed", "wed"}, {"Thu", "thu"}, {"Fri", "fri"}, {"Sat", "sat"}, {"Sun", "sun"},
}

func newOwnerForm(f *setupForm) *ownerForm {
	o := &ownerForm{}
	s := f.base.Schedule
	from, to := "18:00", "08:00"
	var days []string
	if s != nil {
		from, to = s.From, s.To
		for _, d := range s.Days {
			if i := config.DayIndex(d); i >= 0 {
				days = append(days, dayLabels[(i+6)%7].label)
			}
		}
	}
	if len(days) == 0 {
		for _, d := range dayLabels {
			days = append(days, d.label)
		}
	}
	o.from = f.entry("schedule.from", from, "18:00")
	o.to = f.entry("schedule.to", to, "08:00")
	labels := make([]string, len(dayLabels))
	for i, d := range dayLabels {
		labels[i] = d.label
	}
	o.days = widget.NewCheckGroup(labels, nil)
	o.days.Horizontal = true
	o.days.SetSelected(days)
	o.schedOn = widget.NewCheck("Serve only in these hours", nil)
	o.schedOn.SetChecked(s != nil)

	b := f.base.PauseWhenBusy
	cpu, gpu, secs := "", "", strconv.Itoa(config.DefaultBusySeconds)
	if b != nil {
		cpu, gpu = pct(b.CPUPercent), pct(b.GPUPercent)
		if b.ForSeconds > 0 {
			secs = strconv.Itoa(b.ForSeconds)
		}
	} else {
		cpu = "85"
	}
	o.cpu = f.entry("pauseWhenBusy.cpuPercent", cpu, "e.g. 85; empty: not watched")
	o.gpu = f.entry("pauseWhenBusy.gpuPercent", gpu, "e.g. 50 (NVIDIA); empty: not watched")
	o.secs = f.entry("pauseWhenBusy.forSeconds", secs, strconv.Itoa(config.DefaultBusySeconds))
	o.busyOn = widget.NewCheck("Pause while this machine is busy with other work", nil)
	o.busyOn.SetChecked(b != nil)
	o.enable()
	// Callbacks only now: setting the initial values must not revalidate a half-built form.
	toggled := func(bool) { o.enable(); f.revalidate() }
	o.schedOn.OnChanged, o.busyOn.OnChanged = toggled, toggled
	o.days.OnChanged = func([]string) { f.revalidate() }

	o.box = widget.NewAccordion(widget.NewAccordionItem("When to serve", container.NewVBox(
		o.schedOn,
		widget.NewForm(
			&widget.FormItem{Text: "From", Widget: o.from, HintText: "local time, 24-hour HH:MM"},
			&widget.FormItem{Text: "To", Widget: o.to, HintText: "before From means the next morning"},
			&widget.FormItem{Text: "Days", Widget: o.days, HintText: "the days serving starts"},
		),
		widget.NewSeparator(),
		o.busyOn,
		widget.NewForm(
			&widget.FormItem{Text: "CPU above (%)", Widget: o.cpu},
			&widget.FormItem{Text: "GPU above (%)", Widget: o.gpu},
			&widget.FormItem{Text: "For (seconds)", Widget: o.secs, HintText: "our own jobs never count"},
		),
	)))
	return o
}

func pct(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func (o *ownerForm) enable() {
	for _, e := range []*widget.Entry{o.from, o.to} {
		setEntryEnabled(e, o.schedOn.Checked)
	}
	if o.schedOn.Checked {
		o.days.Enable()
	} else {
		o.days.Disable()
	}
	for _, e := range []*widget.Entry{o.cpu, o.gpu, o.secs} {
		setEntryEnabled(e, o.busyOn.Checked)
	}
}

func setEntryEnabled(e *widget.Entry, on bool) {
	if on {
		e.Enable()
	} else {
		e.Disable()
	}
}

func (o *ownerForm) entries() []*widget.Entry {
	return []*widget.Entry{o.from, o.to, o.cpu, o.gpu, o.secs}
}

// apply sets cfg's owner keys from the form (new values; the saved config is not
// touched). A number that is not one is a field error in the loader's style.
func (o *ownerForm) apply(cfg *config.Config) error {
	cfg.Schedule, cfg.PauseWhenBusy = nil, nil
	if o.schedOn.Checked {
		s := &config.Schedule{From: strings.TrimSpace(o.from.Text), To: strings.TrimSpace(o.to.Text)}
		if len(o.days.Selected) == 0 {
			return &config.FieldError{Path: "schedule.days", Msg: "no day chosen; tick the days serving starts, or untick \"Serve only in these hours\""}
		}
		if len(o.days.Selected) < len(dayLabels) {
			for _, d := range dayLabels {
				for _, sel := range o.days.Selected {
					if sel == d.label {
						s.Days = append(s.Days, d.name)
					}
				}
			}
		}
		cfg.Schedule = s
	}
	if o.busyOn.Checked {
		b := &config.PauseWhenBusy{}
		var err error
		if b.CPUPercent, err = number("pauseWhenBusy.cpuPercent", o.cpu.Text); err != nil {
			return err
		}
		if b.GPUPercent, err = number("pauseWhenBusy.gpuPercent", o.gpu.Text); err != nil {
			return err
		}
		secs, err := number("pauseWhenBusy.forSeconds", o.secs.Text)
		if err != nil {
			return err
		}
		if secs != float64(int(secs)) {
			return &config.FieldError{Path: "pauseWhenBusy.forSeconds", Msg: fmt.Sprintf("%q is not a whole number of seconds", o.secs.Text)}
		}
		b.ForSeconds = int(secs)
		cfg.PauseWhenBusy = b
	}
	return nil
}

// number parses an optional number field ("" → 0).
func number(path, text string) (float64, error) {
	text = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "%"))
	if text == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, &config.FieldError{Path: path, Msg: fmt.Sprintf("%q is not a number", text)}
	}
	return v, nil
}
