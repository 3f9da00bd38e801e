package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// Uplink bounds (issue 11 #6): queued output waiting for the gateway is capped, so a
// stalled gateway cannot make the daemon's memory grow without bound.
const (
	// MaxQueuedPerRequest bounds the bytes one request may have queued or in flight on
	// the SSE uplink. A single message is accepted when its request has nothing pending
	// (a large TTS result is one message).
	MaxQueuedPerRequest = 16 << 20
	// MaxQueuedTotal bounds the bytes pending on one link (SSE: queued or being posted;
	// WS: queued), all requests together; a message is accepted past it only when nothing
	// at all is pending.
	MaxQueuedTotal = 128 << 20
	// MaxUplinkPosts is the largest number of SSE uplink POSTs in flight at once.
	MaxUplinkPosts = 128
	// DefaultUplinkPosts is Options.UplinkPosts when zero.
	DefaultUplinkPosts = 16
)

// ErrBacklog: the message was refused because too much output is already waiting for
// the gateway (it is not taking it fast enough). The job should stop and answer with
// this error; error answers themselves are always accepted.
var ErrBacklog = errors.New("gateway not taking output fast enough: uplink backlog full")

// resultRetries are the waits before the 2nd and 3rd try of a failed /stream/result
// POST (issue 11 #3). Results are idempotent by request_id at the gateway; chunks are
// not (a repeated delta would be appended twice), so chunks are never retried.
var resultRetries = []time.Duration{250 * time.Millisecond, time.Second}

// uplink is the SSE uplink (pin-protocol.md §10.3, issue 12): one FIFO per request, at
// most one POST in flight per request (so a request's chunks stay in order and precede
// its result), any number of requests posting at once up to limit. Whatever queued for
// a request while its previous POST was in flight is taken as one batch and coalesced
// (§10.3's 32 KiB rule). Requests waiting for a worker are served round-robin: a
// request that keeps producing goes to the back after each batch, so none is starved.
// Register, heartbeat and model POSTs never pass through here (they POST from the
// caller, on their own connection or HTTP/2 stream).
//
// push never blocks. Workers are goroutines started on demand, at most limit; an idle
// worker waits for the next ready request rather than ending (a fresh goroutine per
// token would grow its stack through the HTTP client every time). close stops them and
// drops what is queued.
type uplink struct {
	post    func(ctx context.Context, path string, body []byte) error // one POST; blocks until answered
	log     *slog.Logger
	ctx     context.Context // the link; its end aborts POSTs in flight
	limit   int             // POSTs in flight at most
	retries []time.Duration // waits before retrying a failed result POST

	mu      sync.Mutex
	reqs    map[string]*flow // guarded by mu: requests with messages queued or posting
	ready   []*flow          // guarded by mu: queued, not posting, waiting for a worker (FIFO)
	workers int              // guarded by mu: worker goroutines running (≤ limit)
	waiting int              // guarded by mu: workers parked in more.Wait and not yet signalled
	more    *sync.Cond       // on mu: signalled when a request becomes ready or on close
	queued  int              // guarded by mu: bytes queued or being posted, all requests
	busy    int              // guarded by mu: messages queued or being posted
	idle    chan struct{}    // guarded by mu: closed whenever busy is 0
	closed  bool             // guarded by mu
	wg      sync.WaitGroup   // workers
}

// flow is one request's uplink state. Every field is guarded by uplink.mu.
type flow struct {
	id      string
	msgs    []protocol.Message
	bytes   int  // of msgs and of the batch being posted
	posting bool // a worker holds it: its batch is being POSTed
}

func newUplink(ctx context.Context, limit int, log *slog.Logger, post func(ctx context.Context, path string, body []byte) error) *uplink {
	idle := make(chan struct{})
	close(idle)
	if limit <= 0 {
		limit = DefaultUplinkPosts
	}
	u := &uplink{post: post, log: log, ctx: ctx, limit: min(limit, MaxUplinkPosts), retries: resultRetries,
		reqs: map[string]*flow{}, idle: idle}
	u.more = sync.NewCond(&u.mu)
	return u
}

// push queues m behind its request's earlier messages. It returns ErrClosed once the
// uplink is closed, and an error wrapping ErrBacklog when m does not fit the bounds.
func (u *uplink) push(m protocol.Message) error {
	id, size := requestOf(m), msgSize(m)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return ErrClosed
	}
	f := u.reqs[id]
	if !isErrorAnswer(m) {
		if err := admit(f != nil && (len(f.msgs) > 0 || f.posting), fbytes(f), u.queued, size); err != nil {
			return err
		}
	}
	if f == nil {
		f = &flow{id: id}
		u.reqs[id] = f
	}
	if len(f.msgs) == 0 && !f.posting {
		u.ready = append(u.ready, f)
		switch {
		case u.waiting > 0:
			u.waiting-- // this one is spoken for: the next push wakes or starts another
			u.more.Signal()
		case u.workers < u.limit:
			u.workers++
			u.wg.Add(1)
			go u.worker()
		}
	}
	f.msgs = append(f.msgs, m)
	f.bytes += size
	u.queued += size
	if u.busy == 0 {
		u.idle = make(chan struct{})
	}
	u.busy++
	return nil
}

func fbytes(f *flow) int {
	if f == nil {
		return 0
	}
	return f.bytes
}

// admit applies the backlog bounds to a message of size bytes, given what its request
// (reqQueued, reqBytes) and the whole link (total) already have waiting or in flight.
func admit(reqQueued bool, reqBytes, total, size int) error {
	if reqQueued && reqBytes+size > MaxQueuedPerRequest {
		return fmt.Errorf("%w (%d bytes of this request waiting, limit %d)", ErrBacklog, reqBytes, MaxQueuedPerRequest)
	}
	if total > 0 && total+size > MaxQueuedTotal {
		return fmt.Errorf("%w (%d bytes waiting on the link, limit %d)", ErrBacklog, total, MaxQueuedTotal)
	}
	return nil
}

// worker POSTs ready requests' batches, waiting when none is ready, until close.
func (u *uplink) worker() {
	defer u.wg.Done()
	var batch []protocol.Message
	for {
		u.mu.Lock()
		for !u.closed && len(u.ready) == 0 {
			u.waiting++ // the push that signals takes it back
			u.more.Wait()
		}
		if u.closed {
			u.workers--
			u.mu.Unlock()
			return
		}
		f := u.ready[0]
		u.ready[0] = nil
		u.ready = u.ready[1:]
		f.posting = true
		batch = append(batch[:0], f.msgs...)
		clear(f.msgs)
		f.msgs = f.msgs[:0]
		takenBytes := f.bytes
		u.mu.Unlock()

		taken := len(batch)
		for _, m := range coalesce(batch) {
			if u.ctx.Err() != nil {
				break
			}
			u.send(m)
		}
		clear(batch)

		u.mu.Lock()
		f.posting = false
		f.bytes -= takenBytes
		u.queued -= takenBytes
		if u.closed {
			u.mu.Unlock()
			continue // the loop head ends the worker
		}
		if len(f.msgs) > 0 {
			u.ready = append(u.ready, f) // to the back: the others get their turn first
		} else {
			delete(u.reqs, f.id)
		}
		u.busy -= taken
		if u.busy == 0 {
			close(u.idle)
		}
		u.mu.Unlock()
	}
}

// send POSTs one message; a failed result POST is retried (idempotent by request_id).
func (u *uplink) send(m protocol.Message) {
	path, body, err := uplinkBody(m)
	if err != nil {
		u.log.Error("cannot send uplink message", "type", m.MsgType(), "err", err)
		return
	}
	for try := 0; ; try++ {
		err = u.post(u.ctx, path, body)
		if err == nil || errors.Is(err, ErrClosed) || u.ctx.Err() != nil {
			return
		}
		if path != "/stream/result" || try >= len(u.retries) || !retryable(err) {
			u.log.Warn("uplink POST failed", "type", m.MsgType(), "request_id", requestOf(m), "tries", try+1, "err", err)
			return
		}
		u.log.Info("result POST failed; retrying", "request_id", requestOf(m), "try", try+1, "err", err)
		t := time.NewTimer(u.retries[try])
		select {
		case <-t.C:
		case <-u.ctx.Done():
			t.Stop()
			return
		}
	}
}

// statusError is a non-2xx answer to an uplink POST.
type statusError struct {
	path string
	code int
	text string
	gone bool // the answer says the gateway no longer knows the session (sessionGone)
}

func (e *statusError) Error() string { return fmt.Sprintf("POST %s: %s", e.path, e.text) }

// Unwrap makes errors.Is(err, ErrSessionGone) true when the gateway forgot the session.
func (e *statusError) Unwrap() error {
	if e.gone {
		return ErrSessionGone
	}
	return nil
}

// retryable: a network failure, a timeout or a 5xx/408/429 may pass on a second try; any
// other 4xx will not.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusRequestTimeout || se.code == http.StatusTooManyRequests
	}
	return true
}

// flush waits until everything pushed so far has been POSTed (or given up), ctx ends, or
// the uplink closes (ErrClosed: what was queued is lost).
func (u *uplink) flush(ctx context.Context) error {
	return awaitIdle(ctx, func() (<-chan struct{}, bool) {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.idle, u.closed
	})
}

// close drops everything queued and waits for the workers (their POSTs end with u.ctx,
// which the caller cancels first).
func (u *uplink) close() {
	u.mu.Lock()
	if !u.closed && u.busy > 0 {
		close(u.idle)
	}
	u.closed = true
	u.reqs, u.ready = nil, nil
	u.more.Broadcast()
	u.mu.Unlock()
	u.wg.Wait()
}

// isErrorAnswer: a terminal error answer. These are small and always accepted, so a
// job refused for the backlog can still say why.
func isErrorAnswer(m protocol.Message) bool {
	switch m.(type) {
	case *protocol.InferenceError, *protocol.TTSError:
		return true
	}
	return false
}

// msgSize approximates the bytes a message holds (its large fields).
func msgSize(m protocol.Message) int {
	const overhead = 128
	switch m := m.(type) {
	case *protocol.InferenceChunk:
		return overhead + len(m.Delta)
	case *protocol.InferenceResponse:
		return overhead + len(m.Result)
	case *protocol.InferenceError:
		return overhead + len(m.Error)
	case *protocol.TTSResponse:
		return overhead + len(m.Result.AudioB64)
	case *protocol.TTSError:
		return overhead + len(m.Error)
	case *protocol.InterviewResult:
		n := overhead
		for _, r := range m.Results {
			n += overhead + len(r.Response)
		}
		return n
	}
	return overhead
}
