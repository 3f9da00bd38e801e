package owner

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/internal/config"
)

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// at is a local time in Berlin; 2026-12-07 is a Monday.
func at(day, hh, mm int) time.Time { return time.Date(2026, 12, day, hh, mm, 0, 0, berlin) }

func TestTomorrow(t *testing.T) {
	for _, c := range []struct{ now, want time.Time }{
		{at(7, 2, 0), at(7, 8, 0)},   // before the morning: this morning
		{at(7, 8, 0), at(8, 8, 0)},   // exactly 08:00: the next one
		{at(7, 9, 30), at(8, 8, 0)},  // daytime: tomorrow
		{at(7, 23, 59), at(8, 8, 0)}, // late evening: tomorrow
		{at(31, 22, 0), time.Date(2027, 1, 1, 8, 0, 0, 0, berlin)},
	} {
		if got := Tomorrow(c.now); !got.Equal(c.want) {
			t.Errorf("Tomorrow(%v) = %v, want %v", c.now, got, c.want)
		}
	}
	// Across the spring DST change (2026-03-29 in Berlin) it is still 08:00 local.
	got := Tomorrow(time.Date(2026, 3, 28, 20, 0, 0, 0, berlin))
	if got.Hour() != 8 || got.Day() != 29 {
		t.Errorf("Tomorrow across DST = %v, want 29 March 08:00", got)
	}
}

func mustSchedule(t *testing.T, days []string, from, to string) *Schedule {
	t.Helper()
	c := &config.Schedule{Days: days, From: from, To: to}
	s, err := NewSchedule(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScheduleOvernightWeekdays(t *testing.T) {
	// Weeknights 18:00–08:00, starting Monday to Friday.
	s := mustSchedule(t, []string{"mon", "tue", "wed", "thu", "fri"}, "18:00", "08:00")
	for _, c := range []struct {
		name string
		t    time.Time
		in   bool
		next time.Time
	}{
		{"monday noon", at(7, 12, 0), false, at(7, 18, 0)},
		{"monday evening", at(7, 18, 0), true, at(8, 8, 0)},
		{"tuesday 07:59 (monday's span)", at(8, 7, 59), true, at(8, 8, 0)},
		{"tuesday 08:00", at(8, 8, 0), false, at(8, 18, 0)},
		{"saturday 03:00 (friday's span)", at(12, 3, 0), true, at(12, 8, 0)},
		{"saturday noon", at(12, 12, 0), false, at(14, 18, 0)},
		{"sunday 23:00", at(13, 23, 0), false, at(14, 18, 0)},
	} {
		in, next := s.Serving(c.t)
		if in != c.in || !next.Equal(c.next) {
			t.Errorf("%s: Serving = %v, %v; want %v, %v", c.name, in, next, c.in, c.next)
		}
	}
}

func TestScheduleTouchingSpansJoin(t *testing.T) {
	// Every day 08:00 to 07:59 the next morning: one minute off each day.
	s := mustSchedule(t, nil, "08:00", "07:59")
	in, next := s.Serving(at(7, 12, 0))
	if !in || !next.Equal(at(8, 7, 59)) {
		t.Errorf("Serving = %v, %v; want in until the 07:59 gap", in, next)
	}
	in, next = s.Serving(at(8, 7, 59))
	if in || !next.Equal(at(8, 8, 0)) {
		t.Errorf("in the gap: Serving = %v, %v", in, next)
	}
}

func TestPolicyOrderAndResume(t *testing.T) {
	p := Policy{Schedule: mustSchedule(t, nil, "18:00", "08:00")}
	now := at(7, 12, 0)
	if d := p.Decide(now); !d.Paused || d.Reason != ReasonSchedule || !d.Until.Equal(at(7, 18, 0)) {
		t.Fatalf("outside hours: %+v", d)
	}
	// A pause by hand wins and shows its own end.
	p.Pause(now.Add(time.Hour))
	if d := p.Decide(now); d.Reason != ReasonManual || !d.Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("manual: %+v", d)
	}
	if n := p.NextChange(now); !n.Equal(now.Add(time.Hour)) {
		t.Fatalf("NextChange = %v", n)
	}
	// When it ends, the schedule applies again.
	if d := p.Decide(now.Add(time.Hour)); d.Reason != ReasonSchedule {
		t.Fatalf("after the pause: %+v", d)
	}
	// Resume outside hours serves until the schedule's next edge (18:00), then follows it.
	p.Resume(now)
	if d := p.Decide(now); d.Paused {
		t.Fatalf("after Resume: %+v", d)
	}
	if d := p.Decide(at(7, 19, 0)); d.Paused {
		t.Fatalf("inside hours: %+v", d)
	}
	if d := p.Decide(at(8, 9, 0)); !d.Paused || d.Reason != ReasonSchedule {
		t.Fatalf("next morning the schedule pauses again: %+v", d)
	}
	// Until resumed: no end.
	p.Pause(time.Time{})
	if d := p.Decide(at(20, 0, 0)); d.Reason != ReasonManual || !d.Until.IsZero() {
		t.Fatalf("until resumed: %+v", d)
	}
}

func TestBusyIgnoresOurJobs(t *testing.T) {
	b := NewBusy(&config.PauseWhenBusy{CPUPercent: 85, ForSeconds: 60})
	t0 := at(7, 12, 0)
	add := func(sec int, cpu float64, ours bool) bool {
		return b.Add(Sample{At: t0.Add(time.Duration(sec) * time.Second), CPU: cpu, CPUOK: true, Ours: ours})
	}
	add(0, 0, false)
	// Our own job keeps the CPU at 100% for ten minutes: never busy.
	for s := 5; s <= 600; s += 5 {
		if add(s, 100, true) {
			t.Fatalf("busy at %ds from our own job", s)
		}
	}
	// The owner's load with no job of ours: busy after 60 s of judged time, not before.
	for s := 605; s < 660; s += 5 {
		if add(s, 95, false) {
			t.Fatalf("busy too early at %ds", s)
		}
	}
	if !add(660, 95, false) {
		t.Fatal("not busy after 60 s over the threshold")
	}
	if !strings.Contains(b.What(), "CPU 95%") {
		t.Errorf("What = %q", b.What())
	}
	// Back to idle only after a full window below it; a job of ours in between does not
	// count as idle.
	add(665, 10, false)
	add(900, 10, true)
	if !add(905, 10, false) {
		t.Fatal("idle too early")
	}
	for s := 910; s <= 965; s += 5 {
		add(s, 10, false)
	}
	if b.Busy() {
		t.Fatal("still busy after a full idle window")
	}
	// A spike shorter than the window never pauses.
	for s := 970; s <= 1020; s += 5 {
		add(s, 99, false)
	}
	add(1025, 5, false)
	for s := 1030; s <= 1080; s += 5 {
		if add(s, 99, false) {
			t.Fatalf("a spike restarted from %ds counted the earlier one", 1030)
		}
	}
}

func TestBusyUnreadableNeverPauses(t *testing.T) {
	b := NewBusy(&config.PauseWhenBusy{GPUPercent: 50})
	t0 := at(7, 12, 0)
	for s := 0; s < 3600; s += 5 {
		if b.Add(Sample{At: t0.Add(time.Duration(s) * time.Second), CPU: 100, CPUOK: true}) {
			t.Fatal("busy from the CPU when only the GPU is watched")
		}
	}
}

func TestProcStatAndNvidiaSMI(t *testing.T) {
	busy, all, ok := ParseProcStat([]byte("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\nintr 5\n"))
	if !ok || busy != 150 || all != 1000 {
		t.Errorf("ParseProcStat = %d, %d, %v", busy, all, ok)
	}
	if _, _, ok := ParseProcStat([]byte("intr 5\n")); ok {
		t.Error("no cpu line parsed as ok")
	}
	if v, ok := ParseNvidiaSMI([]byte("12\n87\n[N/A]\n")); !ok || v != 87 {
		t.Errorf("ParseNvidiaSMI = %v, %v", v, ok)
	}
	if _, ok := ParseNvidiaSMI([]byte("[Not Supported]\n")); ok {
		t.Error("[Not Supported] parsed as ok")
	}
	c := &CPUSampler{Path: t.TempDir() + "/stat"}
	if _, ok := c.Sample(); ok {
		t.Error("missing file sampled as ok")
	}
	g := &GPUSampler{Command: "pin-no-such-nvidia-smi"}
	if _, ok := g.Sample(context.Background()); ok {
		t.Error("missing nvidia-smi sampled as ok")
	}
}

// recorder collects applied decisions.
type recorder struct {
	mu sync.Mutex
	ds []Decision
}

func (r *recorder) apply(d Decision) { r.mu.Lock(); r.ds = append(r.ds, d); r.mu.Unlock() }
func (r *recorder) last() Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ds[len(r.ds)-1]
}

func TestRunnerPauseForAnHourResumesByItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		r := NewRunner(RunnerOptions{Apply: rec.apply})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		synctest.Wait()
		if rec.last().Paused {
			t.Fatal("paused at start")
		}
		start := time.Now()
		r.Pause(start.Add(time.Hour))
		synctest.Wait()
		if d := rec.last(); !d.Paused || d.Reason != ReasonManual || !d.Until.Equal(start.Add(time.Hour)) {
			t.Fatalf("after Pause: %+v", d)
		}
		time.Sleep(59 * time.Minute) // fake time
		synctest.Wait()
		if !rec.last().Paused {
			t.Fatal("resumed early")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if rec.last().Paused {
			t.Fatal("did not resume by itself after an hour")
		}
		// A config reload (Configure) keeps a pause until resumed.
		r.Pause(time.Time{})
		r.Configure(nil, nil)
		synctest.Wait()
		if !rec.last().Paused {
			t.Fatal("Configure lost the pause")
		}
		r.Resume()
		synctest.Wait()
		if rec.last().Paused {
			t.Fatal("Resume did not resume")
		}
		cancel()
		<-done
	})
}

func TestRunnerBusyNotFromOurJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		var mu sync.Mutex
		cpu, inFlight, finished := 0.0, 0, uint64(0)
		set := func(c float64, in int) { mu.Lock(); cpu, inFlight = c, in; mu.Unlock() }
		r := NewRunner(RunnerOptions{
			Apply: rec.apply,
			CPU:   func() (float64, bool) { mu.Lock(); defer mu.Unlock(); return cpu, true },
			Ours: func() (int, uint64) {
				mu.Lock()
				defer mu.Unlock()
				return inFlight, finished
			},
		})
		r.Configure(nil, NewBusy(&config.PauseWhenBusy{CPUPercent: 85, ForSeconds: 120}))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		// Our job keeps the CPU at 100% for 10 minutes.
		set(100, 1)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if rec.last().Paused {
			t.Fatal("paused because of our own job")
		}
		// The job ends; the owner's work keeps it at 95%: paused after ~2 minutes.
		set(95, 0)
		time.Sleep(time.Minute)
		synctest.Wait()
		if rec.last().Paused {
			t.Fatal("paused before forSeconds")
		}
		time.Sleep(90 * time.Second)
		synctest.Wait()
		d := rec.last()
		if !d.Paused || !strings.HasPrefix(d.Reason, ReasonBusy) || !d.Until.IsZero() {
			t.Fatalf("busy: %+v", d)
		}
		// Idle again for forSeconds: resumes.
		set(3, 0)
		time.Sleep(130 * time.Second)
		synctest.Wait()
		if rec.last().Paused {
			t.Fatal("still paused after an idle window")
		}
		cancel()
		<-done
	})
}

func TestDescribe(t *testing.T) {
	now := at(7, 22, 0)
	for _, c := range []struct {
		paused bool
		reason string
		until  time.Time
		want   string
	}{
		{false, "", time.Time{}, ""},
		{true, ReasonSchedule, at(8, 8, 0), "Paused until 08:00 — outside your serving hours"},
		{true, ReasonManual, time.Time{}, "Paused until you resume — paused by you"},
		{true, ReasonManual, at(10, 8, 0), "Paused until Thu 08:00 — paused by you"},
		{true, ReasonManual, at(20, 8, 0), "Paused until 20 Dec 08:00 — paused by you"},
		{true, ReasonBusy + " (CPU 95% ≥ 85% for 2m0s)", time.Time{}, "Paused — this machine is busy with other work (CPU 95% ≥ 85% for 2m0s)"},
	} {
		if got := Describe(c.paused, c.reason, c.until, now); got != c.want {
			t.Errorf("Describe = %q, want %q", got, c.want)
		}
	}
}

func TestRunnerFollowsScheduleEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		from, to := now.Add(time.Hour), now.Add(3*time.Hour)
		s := mustSchedule(t, nil, from.Format("15:04"), to.Format("15:04"))
		rec := &recorder{}
		r := NewRunner(RunnerOptions{Apply: rec.apply})
		r.Configure(s, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		synctest.Wait()
		if d := rec.last(); !d.Paused || d.Reason != ReasonSchedule || d.Until.Format("15:04") != from.Format("15:04") {
			t.Fatalf("before the hours: %+v", d)
		}
		time.Sleep(time.Hour) // fake time: the start of the hours
		synctest.Wait()
		if d := rec.last(); d.Paused {
			t.Fatalf("inside the hours: %+v", d)
		}
		time.Sleep(2 * time.Hour) // the end of the hours
		synctest.Wait()
		if d := rec.last(); !d.Paused || d.Reason != ReasonSchedule {
			t.Fatalf("after the hours: %+v", d)
		}
		if n := len(rec.ds); n != 3 {
			t.Errorf("%d decisions applied, want 3 (no repeats)", n)
		}
		cancel()
		<-done
	})
}
