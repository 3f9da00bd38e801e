package core

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// bigPayload is the request size from which a finished job hands the memory it used
// back to the operating system. A job with a long conversation is copied a few times on
// its way to the backend (the frame, the decoded payload, the backend's request), so an
// 8 MiB job briefly needs tens of MiB; the Go runtime keeps that heap until its next
// collection, which on a quiet node can be minutes away. A daemon that sits in the
// background should drop back to its idle size soon after.
const bigPayload = 1 << 20

// memRelease is the process's releaser: at most one release every releaseDelay, however
// many big jobs end.
var memRelease = &releaser{delay: releaseDelay, free: freeMemory}

// freeMemory collects twice, then returns the free heap to the OS. Two collections,
// because encoding/json keeps the buffer that encoded the job's request (8 MiB for an
// 8 MiB job) in a sync.Pool, which a first collection only moves to the pool's victim
// cache; with one, the pooled buffer stays live and doubles the heap goal. On a heap of a
// few MiB each collection costs about a millisecond.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

const releaseDelay = 2 * time.Second

// releaser runs free once, delay after the first request since its last run: requests in
// between coalesce, and the delay lets the finished job's buffers become garbage.
type releaser struct {
	delay time.Duration
	free  func()

	mu      sync.Mutex
	pending bool
}

func (r *releaser) request() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending {
		return
	}
	r.pending = true
	time.AfterFunc(r.delay, func() {
		r.mu.Lock()
		r.pending = false
		r.mu.Unlock()
		r.free()
	})
}
