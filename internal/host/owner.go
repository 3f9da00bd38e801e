package host

import (
	"context"
	"sync"
	"time"

	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/owner"
)

// The owner controls (pause by hand, schedule, pause while busy) live in the Host, not
// in the engine: the engine is rebuilt on every reload, and a pause, Resume's override
// of the schedule and the busy detector's window must survive that. The policy is
// internal/owner's; the engine only obeys SetPause.

// initOwner makes the runner; called by New.
func (h *Host) initOwner(cfg *config.Config) {
	cpu, gpu := &owner.CPUSampler{}, &owner.GPUSampler{}
	h.owner = owner.NewRunner(owner.RunnerOptions{
		Apply: h.applyPause,
		CPU:   cpu.Sample,
		GPU:   gpu.Sample,
		Ours: func() (int, uint64) {
			st := h.bus.Load()
			return st.InFlight, st.Served + st.Failed
		},
		Logger: h.log,
	})
	h.configureOwner(cfg)
}

// configureOwner sets the schedule and the busy rule of cfg (validated), keeping a pause.
func (h *Host) configureOwner(cfg *config.Config) {
	sched, err := owner.NewSchedule(cfg.Schedule)
	if err != nil { // config.Check refuses these; keep serving rather than guess
		h.log.Error("schedule ignored", "err", err)
		sched = nil
	}
	h.owner.Configure(sched, owner.NewBusy(cfg.PauseWhenBusy))
}

// applyPause is the runner's Apply: it pauses or resumes the current engine and
// remembers the decision for the engines of later reloads.
func (h *Host) applyPause(d owner.Decision) {
	h.mu.Lock()
	h.pause = d
	e := h.eng
	h.mu.Unlock()
	if e != nil {
		e.SetPause(d.Paused, d.Reason, d.Until)
	}
}

// runOwner runs the policy until ctx ends.
func (h *Host) runOwner(ctx context.Context, wg *sync.WaitGroup) {
	h.owner.Step() // before the engine connects: outside the hours it does not connect at all
	wg.Go(func() { h.owner.Run(ctx) })
}

// Pause pauses by hand until until (zero: until Resume); it survives reloads.
func (h *Host) Pause(until time.Time) {
	h.owner.Pause(until)
	h.owner.Step()
}

// Resume ends a pause by hand and lifts a schedule pause until the schedule's next change.
func (h *Host) Resume() {
	h.owner.Resume()
	h.owner.Step()
}
