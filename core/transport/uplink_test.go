package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// fakePost is a gateway's uplink endpoint on the fake clock: it records every POST
// (when it started and ended, what it carried) and checks that no request ever has two
// POSTs in flight. hold, if set, decides how long a POST takes (it may block on ctx).
type fakePost struct {
	t    *testing.T
	hold func(ctx context.Context, p posted) error

	mu       sync.Mutex
	posts    []posted
	inflight map[string]int
	all      int
	maxAll   int
}

type posted struct {
	Path      string
	RequestID string `json:"request_id"`
	Index     int    `json:"index"`
	Delta     string `json:"delta"`
	Kind      string `json:"kind"`
	Start     time.Time
	End       time.Time
}

func newFakePost(t *testing.T, hold func(ctx context.Context, p posted) error) *fakePost {
	return &fakePost{t: t, hold: hold, inflight: map[string]int{}}
}

func (f *fakePost) post(ctx context.Context, path string, body []byte) error {
	p := posted{Path: path, Start: time.Now()}
	if err := json.Unmarshal(body, &p); err != nil {
		f.t.Errorf("POST %s: body %s: %v", path, body, err)
	}
	f.mu.Lock()
	f.inflight[p.RequestID]++
	if f.inflight[p.RequestID] > 1 {
		f.t.Errorf("request %s has %d POSTs in flight; at most one is allowed", p.RequestID, f.inflight[p.RequestID])
	}
	f.all++
	f.maxAll = max(f.maxAll, f.all)
	i := len(f.posts)
	f.posts = append(f.posts, p)
	f.mu.Unlock()
	var err error
	if f.hold != nil {
		err = f.hold(ctx, p)
	}
	f.mu.Lock()
	f.inflight[p.RequestID]--
	f.all--
	f.posts[i].End = time.Now()
	f.mu.Unlock()
	return err
}

func (f *fakePost) of(id string) []posted {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []posted
	for _, p := range f.posts {
		if p.RequestID == id {
			out = append(out, p)
		}
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func testUplink(t *testing.T, limit int, f *fakePost) (*uplink, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	u := newUplink(ctx, limit, slog.New(slog.DiscardHandler), f.post)
	t.Cleanup(func() { cancel(); u.close() })
	return u, cancel
}

func result(id string) *protocol.InferenceResponse {
	return &protocol.InferenceResponse{RequestID: id, Result: json.RawMessage(`{}`)}
}

// Many requests interleaved, POSTs of varied duration: every request's chunks arrive in
// order, all before its result, never two POSTs of one request at once, and no more
// POSTs in flight than the limit.
func TestUplinkChunksBeforeResultPerRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePost(t, func(ctx context.Context, p posted) error {
			var n int
			fmt.Sscanf(p.RequestID, "r%d", &n)
			return sleepCtx(ctx, time.Duration(1+n%7)*3*time.Millisecond)
		})
		u, _ := testUplink(t, 8, f)
		const reqs, chunks = 24, 40
		want := map[string]string{}
		for i := range chunks {
			for r := range reqs {
				id := fmt.Sprintf("r%d", r)
				d := fmt.Sprintf("%d.%d ", r, i)
				want[id] += d
				if err := u.push(chunk(id, "content", d, i)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(2 * time.Millisecond) // a token every 2 ms per request
		}
		for r := range reqs {
			u.push(result(fmt.Sprintf("r%d", r)))
		}
		if err := u.flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for r := range reqs {
			id := fmt.Sprintf("r%d", r)
			ps := f.of(id)
			var got string
			for i, p := range ps {
				if p.Path == "/stream/result" {
					if i != len(ps)-1 {
						t.Fatalf("%s: result POSTed before chunk %d of %d", id, i, len(ps))
					}
					continue
				}
				got += p.Delta
			}
			if ps[len(ps)-1].Path != "/stream/result" {
				t.Fatalf("%s: last POST is %s, want the result", id, ps[len(ps)-1].Path)
			}
			if got != want[id] {
				t.Fatalf("%s: deltas %q, want %q", id, got, want[id])
			}
			if len(ps) >= chunks+1 {
				t.Errorf("%s: %d POSTs for %d chunks: nothing was coalesced while POSTs were in flight", id, len(ps), chunks)
			}
		}
		if f.maxAll > 8 || f.maxAll < 8 {
			t.Errorf("at most %d POSTs were in flight at once; want exactly the limit 8 under this load", f.maxAll)
		}
	})
}

// What queued while a request's POST was in flight goes out as few POSTs: merged up to
// 32 KiB each (first index kept), split at a kind change, result last.
func TestUplinkCoalescesWhileInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		first := true
		f := newFakePost(t, func(ctx context.Context, p posted) error {
			if first {
				first = false
				<-release
			}
			return nil
		})
		u, _ := testUplink(t, 4, f)
		u.push(chunk("a", "thinking", "t", 0))
		synctest.Wait() // the first POST is in flight (held)
		kb := strings.Repeat("x", 1024)
		for i := range 100 {
			u.push(chunk("a", "thinking", kb, 1+i))
		}
		u.push(chunk("a", "content", "c1", 101))
		u.push(chunk("a", "content", "c2", 102))
		u.push(result("a"))
		close(release)
		if err := u.flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range f.of("a") {
			if p.Path == "/stream/result" {
				got = append(got, "result")
				continue
			}
			if len(p.Delta) > MaxCoalesce {
				t.Errorf("a POST carried %d bytes of delta; the limit is %d", len(p.Delta), MaxCoalesce)
			}
			got = append(got, fmt.Sprintf("%s:%d@%d", p.Kind, len(p.Delta), p.Index))
		}
		want := "thinking:1@0 thinking:32768@1 thinking:32768@33 thinking:32768@65 thinking:4096@97 content:4@101 result"
		if strings.Join(got, " ") != want {
			t.Fatalf("POSTs:\n got %s\nwant %s", strings.Join(got, " "), want)
		}
	})
}

// Two requests stream non-stop while only two POSTs may be in flight; a third request's
// chunk still goes out after at most one POST of the others (round robin), not after
// they finish.
func TestUplinkNoRequestStarved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const postTook = 10 * time.Millisecond
		f := newFakePost(t, func(ctx context.Context, p posted) error { return sleepCtx(ctx, postTook) })
		u, _ := testUplink(t, 2, f)
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, id := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					u.push(chunk(id, "content", "x", i))
					time.Sleep(time.Millisecond)
				}
			}()
		}
		time.Sleep(55 * time.Millisecond)
		pushed := time.Now()
		u.push(chunk("c", "content", "c", 0))
		time.Sleep(200 * time.Millisecond)
		stop()
		wg.Wait()
		cs := f.of("c")
		if len(cs) != 1 {
			t.Fatalf("c's chunk was POSTed %d times after 200 ms, want once", len(cs))
		}
		if wait := cs[0].Start.Sub(pushed); wait > postTook {
			t.Fatalf("c waited %v for its POST while a and b streamed; want ≤ one POST (%v)", wait, postTook)
		}
		if len(f.of("a")) < 5 || len(f.of("b")) < 5 {
			t.Fatalf("a and b made %d and %d POSTs in 255 ms; they must keep going too", len(f.of("a")), len(f.of("b")))
		}
	})
}

// One request's POST hangs (a stalled gateway worker); another request's POSTs go out
// at their own pace meanwhile, its result included.
func TestUplinkSlowPostDoesNotDelayOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePost(t, func(ctx context.Context, p posted) error {
			if p.RequestID == "slow" {
				return sleepCtx(ctx, 25*time.Second)
			}
			return sleepCtx(ctx, 5*time.Millisecond)
		})
		u, _ := testUplink(t, 4, f)
		u.push(chunk("slow", "content", "s", 0))
		u.push(chunk("slow", "content", "s", 1))
		synctest.Wait()
		start := time.Now()
		for i := range 10 {
			u.push(chunk("fast", "content", "f", i))
			time.Sleep(20 * time.Millisecond)
		}
		u.push(result("fast"))
		time.Sleep(10 * time.Millisecond)
		fs := f.of("fast")
		if len(fs) != 11 || fs[10].Path != "/stream/result" || fs[10].End.IsZero() {
			t.Fatalf("fast: %d POSTs done while slow's first POST hangs; want 10 chunks and the result", len(fs))
		}
		for i, p := range fs {
			if lag := p.Start.Sub(start.Add(time.Duration(i) * 20 * time.Millisecond)); lag > 0 {
				t.Fatalf("fast's POST %d started %v after it was queued", i, lag)
			}
		}
		if ss := f.of("slow"); len(ss) != 1 {
			t.Fatalf("slow: %d POSTs; want its first still in flight and nothing else", len(ss))
		}
	})
}

// Backlog bounds (issue 11 #6): a request whose POST is stuck cannot queue more than
// MaxQueuedPerRequest; the link not more than MaxQueuedTotal; an error answer always
// goes in, so the job can say why; one large message alone is accepted.
func TestUplinkBacklogBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePost(t, func(ctx context.Context, p posted) error {
			<-ctx.Done()
			return ErrClosed
		})
		u, _ := testUplink(t, 64, f)
		mb := strings.Repeat("m", 1<<20) // shared by every chunk: the test itself stays small
		u.push(chunk("a", "content", "first", 0))
		synctest.Wait() // a's first POST is in flight (stuck)
		var err error
		n := 0
		for n = 1; n < 1000; n++ {
			if err = u.push(chunk("a", "content", mb, n)); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrBacklog) {
			t.Fatalf("push %d: %v; want ErrBacklog", n, err)
		}
		if n-1 > MaxQueuedPerRequest>>20 {
			t.Fatalf("%d MiB queued for one request; the cap is %d MiB", n-1, MaxQueuedPerRequest>>20)
		}
		if err := u.push(&protocol.InferenceError{RequestID: "a", Error: err.Error()}); err != nil {
			t.Fatalf("the error answer must always be accepted: %v", err)
		}
		// other requests fill the link up to the total cap
		big := strings.Repeat("b", 8<<20)
		total := 0
		for r := 0; r < 100; r++ {
			if err = u.push(chunk(fmt.Sprintf("r%d", r), "content", big, 0)); err != nil {
				break
			}
			total += len(big)
		}
		if !errors.Is(err, ErrBacklog) || total+MaxQueuedPerRequest > MaxQueuedTotal+len(big)+MaxQueuedPerRequest {
			t.Fatalf("after %d MiB more: %v; want ErrBacklog at the %d MiB link cap", total>>20, err, MaxQueuedTotal>>20)
		}
	})
	// WS: one queue, the link cap
	q := newOutQueue()
	big := strings.Repeat("b", 8<<20)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = q.push(chunk("x", "content", big, i), false)
	}
	if !errors.Is(err, ErrBacklog) {
		t.Fatalf("WS queue: %v; want ErrBacklog", err)
	}
	if err := q.push(&protocol.InferenceError{RequestID: "x", Error: "x"}, false); err != nil {
		t.Fatalf("WS queue refused an error answer: %v", err)
	}
	data, _ := q.takeData(nil)
	q.written(len(data))
	if err := q.push(chunk("x", "content", big, 0), false); err != nil {
		t.Fatalf("WS queue after draining: %v", err)
	}
}

// A failed result POST is tried 3 times with short waits (issue 11 #3); a failed chunk
// POST is not (a repeated delta would be appended twice); a 4xx result is not retried.
func TestUplinkRetriesFailedResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex // fails is read by the workers of different requests
		fails := map[string]int{"r": 2, "c": 1, "bad": 5, "never": 10}
		f := newFakePost(t, func(ctx context.Context, p posted) error {
			mu.Lock()
			defer mu.Unlock()
			if fails[p.RequestID] > 0 {
				fails[p.RequestID]--
				if p.RequestID == "bad" {
					return &statusError{path: p.Path, code: http.StatusUnprocessableEntity, text: "422"}
				}
				if p.RequestID == "never" {
					return io.ErrUnexpectedEOF
				}
				return &statusError{path: p.Path, code: http.StatusBadGateway, text: "502 Bad Gateway"}
			}
			return nil
		})
		u, _ := testUplink(t, 4, f)
		start := time.Now()
		for _, id := range []string{"r", "bad", "never"} {
			u.push(result(id))
		}
		u.push(chunk("c", "content", "x", 0))
		if err := u.flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		rs := f.of("r")
		if len(rs) != 3 {
			t.Fatalf("result POSTed %d times; want 3 (2 failures, then success)", len(rs))
		}
		if d := rs[1].Start.Sub(start); d != 250*time.Millisecond {
			t.Errorf("2nd try after %v; want 250ms", d)
		}
		if d := rs[2].Start.Sub(rs[1].Start); d != time.Second {
			t.Errorf("3rd try %v after the 2nd; want 1s", d)
		}
		if n := len(f.of("c")); n != 1 {
			t.Errorf("a failed chunk POST was sent %d times; chunks are never retried", n)
		}
		if n := len(f.of("bad")); n != 1 {
			t.Errorf("a result refused with 422 was sent %d times; want no retry", n)
		}
		if n := len(f.of("never")); n != 3 {
			t.Errorf("a result failing on the network was sent %d times; want 3 tries then give up", n)
		}
	})
}

// Flush waits for what was queued, and reports loss when the uplink closes first.
func TestUplinkFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePost(t, func(ctx context.Context, p posted) error { return sleepCtx(ctx, time.Second) })
		u, cancel := testUplink(t, 4, f)
		if err := u.flush(t.Context()); err != nil {
			t.Fatalf("empty: %v", err)
		}
		u.push(chunk("a", "content", "1", 0))
		u.push(result("a"))
		start := time.Now()
		if err := u.flush(t.Context()); err != nil || time.Since(start) != 2*time.Second {
			t.Fatalf("flush = %v after %v; want nil after both POSTs (2s)", err, time.Since(start))
		}
		u.push(chunk("b", "content", "1", 0))
		done := make(chan error, 1)
		go func() { done <- u.flush(context.Background()) }()
		synctest.Wait()
		cancel()
		u.close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("flush of a closed uplink with data pending = %v, want ErrClosed", err)
		}
		if err := u.push(chunk("b", "content", "2", 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("push after close = %v", err)
		}
	})
}

// A silently dropped SSE GET (issue 11 #5): keep-alive comments keep the link alive;
// 90 s without any byte declares it dead, so the engine reconnects.
func TestSSESilentDownlinkIsDeclaredDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &sseConn{log: slog.New(slog.DiscardHandler), linkCx: ctx, cancel: cancel, in: newInbox()}
		c.wg.Add(1)
		go c.readLoop(pr)
		start := time.Now()
		for range 3 {
			if _, err := io.WriteString(pw, ": keepalive\n\n"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(60 * time.Second)
		}
		io.WriteString(pw, "event: message\ndata: {\"type\":\"RESULT_ACK\",\"request_id\":\"x\"}\n\n")
		m, err := c.in.recv(t.Context())
		if err != nil || m.MsgType() != protocol.TypeResultAck {
			t.Fatalf("Recv on a live link = %v, %v", m, err)
		}
		// now silence: nothing more is written
		rctx, rcancel := context.WithTimeout(t.Context(), time.Hour)
		defer rcancel()
		_, err = c.in.recv(rctx)
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "nothing from the gateway") {
			t.Fatalf("Recv on a silent downlink = %v after %v; want the link declared dead", err, took)
		}
		if want := 180*time.Second + sseIdleTimeout; took != want {
			t.Fatalf("declared dead after %v; want %v (90 s after the last byte)", took, want)
		}
		c.wg.Wait()
		pw.Close()
	})
}

// Random load on the fake clock, several seeds: requests of random length and kind
// changes, POSTs of random duration, pushes at random times, a limit below the number
// of requests. Every request's text arrives complete and in order, its result last,
// never two of its POSTs at once, never more POSTs than the limit, and no POST carries
// more than 32 KiB of delta.
func TestUplinkRandomLoad(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 12))     // the requests, drawn before any goroutine starts
				postRng := rand.New(rand.NewPCG(seed, 13)) // POST durations, under mu
				var mu sync.Mutex
				dur := func() time.Duration {
					mu.Lock()
					defer mu.Unlock()
					return time.Duration(postRng.IntN(30)) * time.Millisecond
				}
				f := newFakePost(t, func(ctx context.Context, p posted) error { return sleepCtx(ctx, dur()) })
				const limit = 5
				u, _ := testUplink(t, limit, f)
				const reqs = 12
				want := map[string]string{}
				var wg sync.WaitGroup
				for r := range reqs {
					id := fmt.Sprintf("q%d", r)
					n := 1 + rng.IntN(60)
					size := 1 + rng.IntN(3000)
					start := time.Duration(rng.IntN(200)) * time.Millisecond
					var text strings.Builder
					var kinds []string
					for i := range n {
						kind := "content"
						if i < n/3 {
							kind = "thinking"
						}
						kinds = append(kinds, kind)
						text.WriteString(fmt.Sprintf("<%s%d:%s>", id, i, strings.Repeat("z", size*(i+1)%4000)))
					}
					want[id] = text.String()
					all := text.String()
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(start)
						for i := range n {
							end := strings.Index(all[1:], "<") + 1
							if end == 0 {
								end = len(all)
							}
							if err := u.push(chunk(id, kinds[i], all[:end], i)); err != nil {
								t.Errorf("push: %v", err)
							}
							all = all[end:]
							time.Sleep(time.Duration(i%4) * time.Millisecond)
						}
						u.push(result(id))
					}()
				}
				wg.Wait()
				if err := u.flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				if f.maxAll > limit {
					t.Fatalf("%d POSTs in flight at once; the limit is %d", f.maxAll, limit)
				}
				for r := range reqs {
					id := fmt.Sprintf("q%d", r)
					ps := f.of(id)
					var got strings.Builder
					for i, p := range ps {
						if p.Path == "/stream/result" {
							if i != len(ps)-1 {
								t.Fatalf("%s: result is POST %d of %d", id, i+1, len(ps))
							}
							continue
						}
						if len(p.Delta) > MaxCoalesce {
							t.Fatalf("%s: a POST of %d bytes", id, len(p.Delta))
						}
						got.WriteString(p.Delta)
					}
					if ps[len(ps)-1].Path != "/stream/result" {
						t.Fatalf("%s: no result last", id)
					}
					if got.String() != want[id] {
						t.Fatalf("%s: text differs from what was pushed", id)
					}
				}
			})
		})
	}
}
