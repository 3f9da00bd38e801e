package core

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/core/transport"
)

// Jitter is ±20 % of the exponential delay, and a delay never drops below the floor;
// near the floor the band starts at the floor rather than being cut there, so a fleet
// is spread over [floor, floor+40 %) instead of half of it landing on the floor
// (issue 11: widening the jitter, dropping the floor or cutting the band fails here).
func TestBackoffJitterAndFloor(t *testing.T) {
	const floor = 5 * time.Second
	for _, tc := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0, floor},                       // the band starts at the floor…
		{0, 0.5, 6 * time.Second},           // …and spreads above it
		{0, 0.999, 6998 * time.Millisecond}, // floor + 40 %
		{3, 0, 32 * time.Second},            // 40 s −20 %
		{3, 0.5, 40 * time.Second},
		{3, 0.75, 44 * time.Second},
		{10, 0, 240 * time.Second}, // the 5 min cap, −20 %
		{10, 0.999, 359880 * time.Millisecond},
	} {
		b := backoff{floor: floor, attempt: tc.attempt, rand: func() float64 { return tc.r }}
		if got := b.next().Round(time.Millisecond); got != tc.want {
			t.Errorf("attempt %d, rand %v: delay %v, want %v", tc.attempt, tc.r, got, tc.want)
		}
	}
	// With the real random source, delays spread over the ±20 % band and stay in it.
	seen := map[time.Duration]bool{}
	for range 200 {
		b := backoff{floor: floor, attempt: 3}
		d := b.next()
		if d < 32*time.Second || d > 48*time.Second {
			t.Fatalf("delay %v outside 40 s ±20 %%", d)
		}
		seen[d.Round(time.Second)] = true
	}
	if len(seen) < 5 {
		t.Errorf("200 delays took only %d distinct values: no jitter", len(seen))
	}
	// At the floor: spread over [5 s, 7 s), never piled up on 5 s.
	atFloor := 0
	for range 200 {
		b := backoff{floor: floor}
		d := b.next()
		if d < floor || d >= 7*time.Second {
			t.Fatalf("first delay %v outside [5s, 7s)", d)
		}
		if d == floor {
			atFloor++
		}
	}
	if atFloor > 5 {
		t.Errorf("%d of 200 first delays were exactly the floor: lockstep", atFloor)
	}
}

// The engine applies the jitter from Options.Rand and keeps the floor.
func TestReconnectJitterInEngine(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 5 * time.Second}, {0.75, 6500 * time.Millisecond}} {
		synctest.Test(t, func(t *testing.T) {
			d := newDialer().fail(&transport.HandshakeError{Err: errBoom}).fail(&transport.HandshakeError{Err: errBoom})
			r := startRig(t, d, func(o *Options) {
				o.Config.Transport = transport.WS
				o.Rand = func() float64 { return tc.r }
			})
			synctest.Wait()
			if w := time.Until(r.e.Status().RetryAt); w != tc.want {
				t.Fatalf("rand %v: first retry in %v, want %v", tc.r, w, tc.want)
			}
		})
	}
}
