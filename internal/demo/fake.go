package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/internal/selftest"
)

// FakeModel is the model the built-in demo backend advertises. The name says what it is:
// it shows on the dashboard, in the gateway's model list and in every log line.
const FakeModel = "demo-fake-model"

// DefaultTokenDelay is the built-in backend's pace: about 30 tokens a second, what a
// small model on a laptop GPU streams.
const DefaultTokenDelay = 33 * time.Millisecond

// fakeBackend is the built-in demo backend: a tiny HTTP server on loopback that speaks
// enough of the Ollama API (/api/version, /api/tags, /api/ps, /api/show, /api/chat) for
// detection, the engine's Ollama adapter and the interview. It does not run a model: it
// streams canned answers word by word at a realistic pace, and answers the self-test's
// interview prompts correctly so the node passes its interview.
type fakeBackend struct {
	url   string
	delay time.Duration // per token; 0: as fast as possible (tests)
	srv   *http.Server
	done  chan struct{}

	mu  sync.Mutex
	rnd *rand.Rand // jitter and answer choice; guarded by mu
}

// startFake serves the built-in backend on 127.0.0.1 (a free port).
func startFake(delay time.Duration) (*fakeBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("built-in demo backend: listen on loopback: %w", err)
	}
	f := &fakeBackend{url: "http://" + ln.Addr().String(), delay: delay, done: make(chan struct{}),
		rnd: rand.New(rand.NewPCG(1, 2))}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(f.done)
		_ = f.srv.Serve(ln) // ErrServerClosed after close
	}()
	return f, nil
}

// close stops the server; running answers are cut off.
func (f *fakeBackend) close() {
	_ = f.srv.Close()
	<-f.done
}

func (f *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/version":
		writeJSON(w, map[string]string{"version": "0.0.0-pin-demo"})
	case r.Method == http.MethodGet && r.URL.Path == "/api/tags":
		writeJSON(w, map[string]any{"models": []map[string]string{{"name": FakeModel, "model": FakeModel}}})
	case r.Method == http.MethodGet && r.URL.Path == "/api/ps":
		writeJSON(w, map[string]any{"models": []any{}})
	case r.Method == http.MethodPost && r.URL.Path == "/api/show":
		writeJSON(w, map[string]any{"capabilities": []string{"completion"}, "model_info": map[string]any{}})
	case r.Method == http.MethodPost && r.URL.Path == "/api/chat":
		f.chat(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]string{"error": "the built-in demo backend has no " + r.Method + " " + r.URL.Path})
	}
}

type chatReq struct {
	Model    string `json:"model"`
	Stream   *bool  `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

func (f *fakeBackend) chat(w http.ResponseWriter, r *http.Request) {
	var req chatReq
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "the built-in demo backend could not read the request: " + err.Error()})
		return
	}
	if req.Model != FakeModel {
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]string{"error": fmt.Sprintf("model %q not found; the built-in demo backend serves only %s", req.Model, FakeModel)})
		return
	}
	last, promptWords := "", 0
	for _, m := range req.Messages {
		last = m.Content
		promptWords += len(strings.Fields(m.Content))
	}
	tokens := f.answer(last)
	final := map[string]any{"model": FakeModel, "created_at": time.Now().UTC().Format(time.RFC3339Nano),
		"message": map[string]string{"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
		"prompt_eval_count": promptWords*4/3 + 8, "eval_count": len(tokens)}
	if req.Stream != nil && !*req.Stream {
		for range tokens {
			if !f.pause(r.Context()) {
				return
			}
		}
		final["message"] = map[string]string{"role": "assistant", "content": strings.Join(tokens, "")}
		writeJSON(w, final)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for _, t := range tokens {
		if !f.pause(r.Context()) {
			return
		}
		if enc.Encode(map[string]any{"model": FakeModel, "message": map[string]string{"role": "assistant", "content": t}, "done": false}) != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
	_ = enc.Encode(final)
}

// pause waits one token's time (with ±30 % jitter); false when the request was cancelled.
func (f *fakeBackend) pause(ctx context.Context) bool {
	if f.delay <= 0 {
		return ctx.Err() == nil
	}
	f.mu.Lock()
	d := time.Duration(float64(f.delay) * (0.7 + 0.6*f.rnd.Float64()))
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// answer is the reply to prompt, cut into tokens (words with their leading space): the
// expected answer for an interview prompt, else a canned answer to one of the demo's
// prompts, else a generic one.
func (f *fakeBackend) answer(prompt string) []string {
	for _, p := range selftest.DefaultPrompts {
		if strings.TrimSpace(prompt) == p.Prompt {
			return []string{p.Expect}
		}
	}
	text := ""
	for _, p := range Prompts {
		if prompt == p.Text {
			text = p.Answer
		}
	}
	if text == "" {
		f.mu.Lock()
		text = generic[f.rnd.IntN(len(generic))]
		f.mu.Unlock()
	}
	return tokenize(text)
}

// tokenize cuts text into word-sized tokens, each with its leading space, so the
// concatenation is the text.
func tokenize(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' || text[i] == '\n' {
			out = append(out, text[start:i])
			start = i
		}
	}
	return append(out, text[start:])
}

var generic = []string{
	"This answer comes from the built-in demo backend, which is not a real model: it streams canned text so you can watch a PIN node serve jobs without installing one.",
	"The PIN demo is running: a local gateway on this machine sent this request to your node, and the built-in demo backend streamed these words back, a token at a time.",
}

func writeJSON(w http.ResponseWriter, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to tell
}
