package app

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// The Settings form's "When to serve" section writes schedule and pauseWhenBusy as the
// daemon reads them, and shows their problems in the loader's words on the field.
func TestSettingsScheduleAndBusy(t *testing.T) {
	h := newConfigured(t, false)
	h.u.start(false)
	h.until("engine", func() bool { return h.u.eng != nil })
	test.Tap(h.u.dash.settings)
	f := h.u.setup
	if f == nil || f.owner == nil {
		t.Fatal("no settings form")
	}
	o := f.owner
	if o.schedOn.Checked || o.busyOn.Checked || !o.from.Disabled() {
		t.Fatal("owner controls on without a schedule or pauseWhenBusy in the config")
	}
	cfg, _, err := f.check()
	if err != nil || cfg.Schedule != nil || cfg.PauseWhenBusy != nil {
		t.Fatalf("off: %+v %v", cfg, err)
	}

	o.schedOn.SetChecked(true)
	o.days.SetSelected([]string{"Mon", "Tue", "Wed", "Thu", "Fri"})
	o.busyOn.SetChecked(true)
	o.gpu.SetText("50")
	cfg, _, err = f.check()
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Schedule; s == nil || s.From != "18:00" || s.To != "08:00" || !slices.Equal(s.Days, []string{"mon", "tue", "wed", "thu", "fri"}) {
		t.Errorf("schedule = %+v", cfg.Schedule)
	}
	if b := cfg.PauseWhenBusy; b == nil || b.CPUPercent != 85 || b.GPUPercent != 50 || b.ForSeconds != 120 {
		t.Errorf("pauseWhenBusy = %+v", cfg.PauseWhenBusy)
	}

	test.Type(o.from, "x") // "18:00x"
	if !strings.HasPrefix(f.problem.Text, "When to serve › From: ") || o.from.Validate() == nil || !f.save.Disabled() {
		t.Errorf("bad from: problem %q, field error %v, save enabled %v", f.problem.Text, o.from.Validate(), !f.save.Disabled())
	}
	o.from.SetText("18:00")
	o.secs.SetText("soon")
	if !strings.HasPrefix(f.problem.Text, `When to serve › For (seconds): "soon" is not a number`) || o.secs.Validate() == nil {
		t.Errorf("bad seconds: problem %q", f.problem.Text)
	}
	o.secs.SetText("60")
	o.days.SetSelected(nil)
	if !strings.HasPrefix(f.problem.Text, "When to serve › Days: no day chosen") {
		t.Errorf("no day: problem %q", f.problem.Text)
	}
	o.days.SetSelected([]string{"Sat", "Sun"})
	if f.save.Disabled() {
		t.Fatalf("valid form not saveable: %q", f.problem.Text)
	}
	test.Tap(f.save)
	h.until("saved and restarted", func() bool { return h.engineCount() == 2 })
	got := h.engine(1).cfg
	if got.Schedule == nil || !slices.Equal(got.Schedule.Days, []string{"sat", "sun"}) || got.PauseWhenBusy == nil || got.PauseWhenBusy.ForSeconds != 60 {
		t.Errorf("saved: schedule %+v busy %+v", got.Schedule, got.PauseWhenBusy)
	}
}
