package owner

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is how often Runner samples the machine's load when pauseWhenBusy is on.
const DefaultEvery = 5 * time.Second

// RunnerOptions wires a Runner to the world. Everything is injected so tests run it on a
// fake clock (testing/synctest) with fake samplers.
type RunnerOptions struct {
	// Apply receives every changed decision (and the first one), from Run's goroutine.
	Apply func(Decision)
	// CPU and GPU read the machine's load in percent since the previous call; ok false
	// when it cannot be read (not Linux, no NVIDIA GPU). nil → not read.
	CPU func() (float64, bool)
	GPU func(ctx context.Context) (float64, bool)
	// Ours reports our own jobs: running now, and finished so far (a counter).
	Ours func() (inFlight int, finished uint64)
	// Now is the clock; nil → time.Now. Timers use the time package (synctest fakes it).
	Now    func() time.Time
	Every  time.Duration // sampling cadence; 0 → DefaultEvery
	Logger *slog.Logger  // nil → discard
}

// Runner applies the owner's policy over time: it wakes at the policy's next change
// (a pause's end, the schedule's next edge), samples the load while pauseWhenBusy is on,
// and calls Apply when the decision changes. Its state (a pause by hand, Resume's
// override) survives Configure, so a config reload keeps a pause.
type Runner struct {
	o       RunnerOptions
	wake    chan struct{}
	applyMu sync.Mutex // serialises deciding and applying

	mu   sync.Mutex
	pol  Policy   // guarded by mu
	last Decision // guarded by mu: the decision applied last
	init bool     // guarded by mu: one decision was applied

	prevIn   int    // Run's goroutine only
	prevDone uint64 // Run's goroutine only
}

// NewRunner makes a runner with no schedule and no busy rule (Configure sets them).
func NewRunner(o RunnerOptions) *Runner {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Apply == nil {
		o.Apply = func(Decision) {}
	}
	return &Runner{o: o, wake: make(chan struct{}, 1)}
}

// Configure sets the schedule and the busy rule (nil: off), keeping a pause by hand. A
// busy detector that was already running is kept when b is equivalent, so a reload does
// not restart its window.
func (r *Runner) Configure(s *Schedule, b *Busy) {
	r.mu.Lock()
	r.pol.Schedule = s
	if b == nil || r.pol.Busy == nil || b.cpu != r.pol.Busy.cpu || b.gpu != r.pol.Busy.gpu || b.window != r.pol.Busy.window {
		r.pol.Busy = b
	}
	r.mu.Unlock()
	r.poke()
}

// Pause pauses by hand until until (zero: until Resume).
func (r *Runner) Pause(until time.Time) {
	r.mu.Lock()
	r.pol.Pause(until)
	r.mu.Unlock()
	r.poke()
}

// Resume ends a pause by hand and overrides the schedule until its next change (see
// Policy.Resume).
func (r *Runner) Resume() {
	r.mu.Lock()
	r.pol.Resume(r.o.Now())
	r.mu.Unlock()
	r.poke()
}

// Decision is the decision applied last.
func (r *Runner) Decision() Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Step decides now and applies the decision if it changed (Run does it on every wake;
// a caller that just paused calls it to see the effect at once).
func (r *Runner) Step() { r.step(r.o.Now()) }

// step decides at now, applies a changed decision (serialised with applyMu, so two
// callers never apply out of order) and returns when to decide again (zero: no known time).
func (r *Runner) step(now time.Time) time.Time {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.mu.Lock()
	d := r.pol.Decide(now)
	next := r.pol.NextChange(now)
	changed := !r.init || !same(d, r.last)
	r.last, r.init = d, true
	r.mu.Unlock()
	if changed {
		r.o.Apply(d)
	}
	return next
}

// Run applies decisions until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	var nextSample time.Time
	for {
		now := r.o.Now()
		r.mu.Lock()
		sampling := r.pol.Busy != nil
		r.mu.Unlock()
		if sampling && !now.Before(nextSample) {
			r.sample(ctx, now)
			nextSample = now.Add(r.o.Every)
		}
		if !sampling {
			nextSample = time.Time{}
		}
		next := r.step(now)
		if sampling && (next.IsZero() || nextSample.Before(next)) {
			next = nextSample
		}
		var tc <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(0, next.Sub(now)))
			tc = t.C
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-tc:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// sample reads the load once and feeds the busy detector.
func (r *Runner) sample(ctx context.Context, now time.Time) {
	s := Sample{At: now}
	r.mu.Lock()
	cpu, gpu := r.pol.Busy != nil && r.pol.Busy.cpu > 0, r.pol.Busy != nil && r.pol.Busy.gpu > 0
	r.mu.Unlock()
	if cpu && r.o.CPU != nil {
		s.CPU, s.CPUOK = r.o.CPU()
	}
	if gpu && r.o.GPU != nil { // nvidia-smi is run only when the GPU is watched
		s.GPU, s.GPUOK = r.o.GPU(ctx)
	}
	if r.o.Ours != nil {
		in, done := r.o.Ours()
		s.Ours = in > 0 || r.prevIn > 0 || done != r.prevDone
		r.prevIn, r.prevDone = in, done
	}
	r.mu.Lock()
	if r.pol.Busy != nil {
		r.pol.Busy.Add(s)
	}
	r.mu.Unlock()
}

func same(a, b Decision) bool {
	return a.Paused == b.Paused && a.Reason == b.Reason && a.Until.Equal(b.Until)
}
