package owner

import (
	"fmt"
	"time"

	"github.com/pin-client/pin-client/internal/config"
)

// Sample is one reading of the machine's load over an interval ending at At.
//
// Ours is set when one of our own jobs ran during the interval (in flight at its start
// or end, or one finished within it). Such a sample says nothing about the owner: our
// backend makes the CPU and the GPU busy too, and it usually runs as a separate process
// (Ollama's runner, a container, another machine) that cannot be told apart reliably
// from the owner's work. So the rule is: only intervals without a job of ours are
// judged. They neither count towards "busy" nor reset it; an owner who works while jobs
// run is caught in the gaps between jobs, and when paused (no jobs at all) every
// interval is judged, so a pause ends only after a real idle window.
type Sample struct {
	At       time.Time
	CPU, GPU float64 // percent
	CPUOK    bool    // the CPU was read (Linux)
	GPUOK    bool    // the GPU was read (nvidia-smi answered)
	Ours     bool
}

// Busy is the "pause while this machine is busy" detector. Use above a threshold for
// ForSeconds of judged time makes it busy; below every threshold for ForSeconds of judged
// time makes it idle again (hysteresis, so it does not flap).
type Busy struct {
	cpu, gpu float64
	window   time.Duration

	last     time.Time     // end of the previous sample
	busy     bool          // the current judgement
	run      time.Duration // judged time the readings have disagreed with busy, in a row
	lastWhat string
}

// NewBusy builds the detector of a validated config; nil → nil.
func NewBusy(c *config.PauseWhenBusy) *Busy {
	if c == nil {
		return nil
	}
	w := c.ForSeconds
	if w <= 0 {
		w = config.DefaultBusySeconds
	}
	return &Busy{cpu: c.CPUPercent, gpu: c.GPUPercent, window: time.Duration(w) * time.Second}
}

// Reset forgets the judgement (Resume by hand): busy again needs a full window.
func (b *Busy) Reset() { b.busy, b.run = false, 0 }

// Busy is the current judgement.
func (b *Busy) Busy() bool { return b.busy }

// What says which reading made it busy, e.g. "CPU 93% over 85%".
func (b *Busy) What() string { return b.lastWhat }

// over reports whether a sample is above a watched threshold, and which.
func (b *Busy) over(s Sample) (bool, string) {
	if b.cpu > 0 && s.CPUOK && s.CPU >= b.cpu {
		return true, fmt.Sprintf("CPU %.0f%% ≥ %.0f%%", s.CPU, b.cpu)
	}
	if b.gpu > 0 && s.GPUOK && s.GPU >= b.gpu {
		return true, fmt.Sprintf("GPU %.0f%% ≥ %.0f%%", s.GPU, b.gpu)
	}
	return false, ""
}

// Add takes one sample and returns the judgement after it.
func (b *Busy) Add(s Sample) bool {
	prev := b.last
	b.last = s.At
	if prev.IsZero() || !s.At.After(prev) {
		return b.busy // the first reading only starts the clock
	}
	if s.Ours || (!s.CPUOK && !s.GPUOK) {
		return b.busy // not judged: neither counts nor resets
	}
	d := s.At.Sub(prev)
	over, what := b.over(s)
	if over == b.busy {
		b.run = 0
		return b.busy
	}
	b.run += d
	if b.run >= b.window {
		b.busy, b.run = over, 0
		if over {
			b.lastWhat = what + " for " + b.window.String()
		}
	}
	return b.busy
}
