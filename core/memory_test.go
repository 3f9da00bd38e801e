package core

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestReleaserCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		r := &releaser{delay: 2 * time.Second, free: func() { runs.Add(1) }}
		for range 5 {
			r.request()
			time.Sleep(100 * time.Millisecond) // fake time inside the bubble
		}
		synctest.Wait()
		if n := runs.Load(); n != 0 {
			t.Fatalf("released %d times before the delay, want 0", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Fatalf("released %d times for one burst of big jobs, want 1", n)
		}
		r.request()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 2 {
			t.Fatalf("a big job after the release: %d releases, want 2", n)
		}
	})
}

// A job with a payload of bigPayload or more asks for a release when it ends; small
// jobs do not.
func TestBigJobReleasesMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		old := memRelease
		memRelease = &releaser{delay: releaseDelay, free: func() { runs.Add(1) }}
		defer func() { memRelease = old }()
		r := startRig(t, newDialer().ok(), nil)
		c := r.conn()
		small := `[{"role":"user","content":"hi"}]`
		c.in <- inferReq("small", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(small)})
		time.Sleep(releaseDelay + time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 0 || len(c.terminals("small")) != 1 {
			t.Fatalf("small job: %d releases, %d answers; want 0 and 1", n, len(c.terminals("small")))
		}
		big := `[{"role":"user","content":"` + strings.Repeat("x", bigPayload) + `"}]`
		c.in <- inferReq("big", map[string]any{"model": "llama3:8b", "stream": true, "messages": rawJSON(big)})
		synctest.Wait()
		if len(c.terminals("big")) != 1 {
			t.Fatalf("big job: %d answers, want 1", len(c.terminals("big")))
		}
		time.Sleep(releaseDelay)
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Fatalf("big job: %d releases, want 1", n)
		}
	})
}
