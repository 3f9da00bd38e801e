package core

import (
	"math/rand/v2"
	"time"
)

// Reconnect policy constants (design.md §3).
const (
	// maxBackoff caps the exponential backoff.
	maxBackoff = 5 * time.Minute
	// authRetryFloor: rejected credentials are retried, but slowly, never in a storm.
	authRetryFloor = time.Minute
)

// backoff is capped exponential backoff with jitter, never below floor.
type backoff struct {
	floor   time.Duration // reconnectDelaySecs
	attempt int
	rand    func() float64 // [0,1); nil → math/rand/v2
}

// next returns the delay before the next attempt and advances the exponent.
func (b *backoff) next() time.Duration {
	d := b.floor
	for i := 0; i < b.attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	b.attempt++
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	// ±20 % jitter spreads a fleet's reconnects after a gateway restart. Where the band
	// would reach below the floor it starts at the floor instead of being cut there
	// (a cut would put half of a fleet on exactly the floor: lockstep).
	low := max(b.floor, d-d/5)
	return low + time.Duration(r()*float64(d)*2/5)
}

func (b *backoff) reset() { b.attempt = 0 }
