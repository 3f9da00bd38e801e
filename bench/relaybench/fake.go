package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchModel is the one model the fake serves.
const benchModel = "bench-model"

// tokenText is every streamed token. Fixed width, no JSON escaping, so a client counts
// tokens by content length whatever the relay coalesced.
const tokenText = "tok "

// pace is how the fake generates: time to first token and the gap between tokens.
// A zero TokenDelay streams as fast as the connection takes it.
type pace struct {
	TTFT       time.Duration
	TokenDelay time.Duration
}

// fakeBackend is a lean OpenAI-compatible server that looks like vLLM to
// backends/detect (GET /v1/models with owned_by "vllm") and streams chat completions as
// SSE: a role frame at once, the first token TTFT later, then one token per TokenDelay
// on an absolute schedule (so a slow reader does not slow the generation clock), then a
// finish frame, a usage frame when asked, and [DONE]. The number of tokens is the
// request's max_tokens. Frames are prebuilt; a token costs one Write and one Flush.
//
// Each request whose first user message is "bench <id>" records, in the registry, when
// its body was parsed and when its first token was written (monotonic clock, the same
// process as the client), so the harness can split a TTFT into request and response legs.
type fakeBackend struct {
	URL string

	pace     atomic.Pointer[pace]
	inFlight atomic.Int64
	maxIn    atomic.Int64
	streams  atomic.Int64
	conns    atomic.Int64 // TCP connections accepted
	reg      *registry

	srv  *http.Server
	done chan struct{}
}

// registry maps a request id to its timing record. Guarded by mu.
type registry struct {
	mu   sync.Mutex
	recs map[string]*timing
}

// timing is one stream's timestamps, as durations since the harness epoch.
type timing struct {
	backendIn    atomic.Int64 // fake parsed the request
	backendFirst atomic.Int64 // fake is about to write the first token
}

func newRegistry() *registry { return &registry{recs: map[string]*timing{}} }

func (r *registry) add(id string) *timing {
	t := &timing{}
	r.mu.Lock()
	r.recs[id] = t
	r.mu.Unlock()
	return t
}

func (r *registry) get(id string) *timing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recs[id]
}

func (r *registry) drop(id string) {
	r.mu.Lock()
	delete(r.recs, id)
	r.mu.Unlock()
}

// epoch is the harness's monotonic origin.
var epoch = time.Now()

func since() int64 { return int64(time.Since(epoch)) }

// startFake listens on 127.0.0.1:0 and serves until close.
func startFake(log *slog.Logger, reg *registry) (*fakeBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeBackend{URL: "http://" + ln.Addr().String(), reg: reg, done: make(chan struct{})}
	f.pace.Store(&pace{})
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				f.conns.Add(1)
			}
		}}
	go func() {
		defer close(f.done)
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("fake backend stopped", "err", err)
		}
	}()
	return f, nil
}

func (f *fakeBackend) close() {
	_ = f.srv.Close()
	<-f.done
}

// setPace changes the generation pace of later requests.
func (f *fakeBackend) setPace(p pace) { f.pace.Store(&p) }

// resetMax starts a new max-in-flight window.
func (f *fakeBackend) resetMax() { f.maxIn.Store(f.inFlight.Load()) }

func (f *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"`+benchModel+`","object":"model","created":0,"owned_by":"vllm","max_model_len":4096}]}`)
	case r.URL.Path == "/version" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"version":"0.0.0-relaybench"}`)
	case r.URL.Path == "/v1/chat/completions" && r.Method == http.MethodPost:
		f.chat(w, r)
	default:
		http.NotFound(w, r)
	}
}

// chatBody is the part of a chat request the fake reads.
type chatBody struct {
	Model     string `json:"model"`
	Stream    bool   `json:"stream"`
	MaxTokens int    `json:"max_tokens"`
	Messages  []struct {
		Content string `json:"content"`
	} `json:"messages"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// Prebuilt frames (vLLM's shape).
const (
	framePrefix = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"` + benchModel + `","choices":[`
	roleFrame   = framePrefix + `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	tokenFrame  = framePrefix + `{"index":0,"delta":{"content":"` + tokenText + `"},"finish_reason":null}]}` + "\n\n"
	stopFrame   = framePrefix + `{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	doneFrame   = "data: [DONE]\n\n"
)

var tokenBytes = []byte(tokenFrame)

func (f *fakeBackend) chat(w http.ResponseWriter, r *http.Request) {
	var c chatBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&c); err != nil {
		http.Error(w, `{"error":{"message":"bad body"}}`, http.StatusBadRequest)
		return
	}
	var rec *timing
	if len(c.Messages) > 0 && len(c.Messages[0].Content) > 6 && c.Messages[0].Content[:6] == "bench " {
		rec = f.reg.get(c.Messages[0].Content[6:])
	}
	if rec != nil {
		rec.backendIn.Store(since())
	}
	if !c.Stream {
		http.Error(w, `{"error":{"message":"relaybench fake streams only"}}`, http.StatusBadRequest)
		return
	}
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	f.streams.Add(1)
	p := *f.pace.Load()
	start := time.Now()
	ctx := r.Context()
	fl := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, roleFrame); err != nil {
		return
	}
	fl.Flush()
	for i := range c.MaxTokens {
		if p.TokenDelay > 0 || i == 0 {
			if sleepUntil(ctx, start.Add(p.TTFT+time.Duration(i)*p.TokenDelay)) != nil {
				return
			}
		}
		if i == 0 && rec != nil {
			rec.backendFirst.Store(since()) // before the write: the client may parse it at once
		}
		if _, err := w.Write(tokenBytes); err != nil {
			return
		}
		fl.Flush()
	}
	tail := stopFrame
	if c.StreamOptions != nil && c.StreamOptions.IncludeUsage {
		tail += `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"` + benchModel +
			`","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":` + strconv.Itoa(c.MaxTokens) +
			`,"total_tokens":` + strconv.Itoa(c.MaxTokens+3) + "}}\n\n"
	}
	_, _ = io.WriteString(w, tail+doneFrame)
}

// sleepUntil waits until t or ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
