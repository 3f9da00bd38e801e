package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
)

// Request is one request a fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte // the raw body, exactly as received
	// Model and Stream are read from a chat body ("" and false otherwise). Stream
	// follows the API's default when the body has no "stream" (Ollama: true).
	Model  string
	Stream bool
}

// Decode unmarshals the request body into v.
func (r Request) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Fake is a fake LLM server: Ollama (/api/tags, /api/chat) or OpenAI-compatible
// (/v1/models, /v1/chat/completions, /v1/audio/speech). It is an http.Handler and can
// also run as an httptest.Server. All methods are safe for concurrent use, also while
// requests are being served.
type Fake struct {
	// URL is the base URL of the running server ("" until Start).
	URL string

	mode    string // backends.ModeOllama or backends.ModeOpenAI
	flavour Flavour

	mu          sync.Mutex // guards everything below
	srv         *httptest.Server
	script      Script
	respond     func(Request) Script
	models      []string
	strict      bool
	fails       map[string]failure
	audio       []byte
	audioType   string
	reqs        []Request
	inFlight    int
	maxInFlight int
}

type failure struct {
	status int
	body   string
}

// Default model lists of new fakes.
var (
	DefaultOllamaModels = []string{"llama3:8b", "qwen3:0.6b"}
	DefaultOpenAIModels = []string{"local-model"}
)

// NewOllama returns a fake Ollama server answering s to every chat request. With a
// non-nil tb the server is started (URL is set) and closed when the test ends; with nil
// it is only a handler until Start.
func NewOllama(tb testing.TB, s Script) *Fake {
	f := &Fake{mode: backends.ModeOllama, script: s, models: slices.Clone(DefaultOllamaModels)}
	return f.startFor(tb)
}

// NewOpenAI returns a fake OpenAI-compatible server of the given flavour ("" means
// LlamaCpp) answering s to every chat request, and fake audio to speech requests. tb
// works as for NewOllama.
func NewOpenAI(tb testing.TB, fl Flavour, s Script) *Fake {
	if fl == "" {
		fl = LlamaCpp
	}
	f := &Fake{mode: backends.ModeOpenAI, flavour: fl, script: s, models: slices.Clone(DefaultOpenAIModels),
		audio: []byte("RIFF\x24\x00\x00\x00WAVEfmt \x00\xff"), audioType: "audio/wav"}
	return f.startFor(tb)
}

// NewTTS returns a fake OpenAI-compatible TTS server (chatterbox-style) whose
// POST /v1/audio/speech answers audio with the given Content-Type ("" sends none).
// tb works as for NewOllama.
func NewTTS(tb testing.TB, audio []byte, contentType string) *Fake {
	f := NewOpenAI(nil, LlamaCpp, Script{})
	f.models = []string{"chatterbox-turbo"}
	f.SetSpeech(audio, contentType)
	return f.startFor(tb)
}

func (f *Fake) startFor(tb testing.TB) *Fake {
	if tb != nil {
		tb.Helper()
		f.Start()
		tb.Cleanup(f.Close)
	}
	return f
}

// Start starts an httptest.Server for f on loopback (once) and sets URL. Close stops it.
func (f *Fake) Start() *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv == nil {
		f.srv = httptest.NewServer(f)
		f.URL = f.srv.URL
	}
	return f
}

// Close stops the server started by Start, cutting open connections. Safe to call
// more than once.
func (f *Fake) Close() {
	f.mu.Lock()
	srv := f.srv
	f.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

// Client returns an http.Client that serves requests in memory with f, with no network
// and no goroutine outside the caller's (usable inside a testing/synctest bubble).
func (f *Fake) Client() *http.Client { return Client(f) }

// Mode is backends.ModeOllama or backends.ModeOpenAI.
func (f *Fake) Mode() string { return f.mode }

// Flavour is the imitated OpenAI-compatible server ("" for Ollama).
func (f *Fake) Flavour() Flavour { return f.flavour }

// SetScript replaces the answer to every later chat request.
func (f *Fake) SetScript(s Script) {
	f.mu.Lock()
	f.script = s
	f.mu.Unlock()
}

// SetResponder makes fn choose the answer to each chat request (nil restores the
// script). fn runs on the request's goroutine and must be safe for concurrent use.
func (f *Fake) SetResponder(fn func(Request) Script) {
	f.mu.Lock()
	f.respond = fn
	f.mu.Unlock()
}

// SetModels replaces the model list (takes effect for the next request).
func (f *Fake) SetModels(names ...string) {
	f.mu.Lock()
	f.models = slices.Clone(names)
	f.mu.Unlock()
}

// SetStrictModels makes chat requests for a model not in the list fail as the real
// server does (Ollama 404 "model … not found", OpenAI 404 model_not_found).
func (f *Fake) SetStrictModels(strict bool) {
	f.mu.Lock()
	f.strict = strict
	f.mu.Unlock()
}

// Fail makes every request to path (e.g. "/api/tags", "/v1/audio/speech") answer status
// with body; status 0 clears it. A chat path's failure beats Script.Status.
func (f *Fake) Fail(path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails == nil {
		f.fails = make(map[string]failure)
	}
	if status == 0 {
		delete(f.fails, path)
		return
	}
	f.fails[path] = failure{status, body}
}

// SetSpeech sets the audio POST /v1/audio/speech answers ("" contentType sends no
// Content-Type header; nil audio an empty body).
func (f *Fake) SetSpeech(audio []byte, contentType string) {
	f.mu.Lock()
	f.audio, f.audioType = slices.Clone(audio), contentType
	f.mu.Unlock()
}

// Requests returns a copy of every request received so far, in arrival order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// LastRequest returns the latest request to path ("" for any path).
func (f *Fake) LastRequest(path string) (Request, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reqs) - 1; i >= 0; i-- {
		if path == "" || f.reqs[i].Path == path {
			return f.reqs[i], true
		}
	}
	return Request{}, false
}

// InFlight is the number of requests being served right now.
func (f *Fake) InFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight
}

// MaxInFlight is the highest InFlight seen since the fake was made or Reset.
func (f *Fake) MaxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInFlight
}

// Reset forgets the recorded requests and MaxInFlight.
func (f *Fake) Reset() {
	f.mu.Lock()
	f.reqs = nil
	f.maxInFlight = f.inFlight
	f.mu.Unlock()
}

// ServeHTTP serves one request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	isChat := r.URL.Path == f.chatPath()
	var chat chatBody
	if isChat {
		chat = parseChat(body, f.mode)
		rec.Model, rec.Stream = chat.Model, chat.stream
	}

	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	fail, failing := f.fails[r.URL.Path]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()

	if failing {
		writeStatus(w, fail.status, fail.body, f.mode)
		return
	}
	switch {
	case r.URL.Path == f.modelsPath():
		f.serveModels(w, r)
	case isChat:
		f.serveChat(w, r, rec, chat)
	case f.mode == backends.ModeOpenAI && r.URL.Path == "/v1/audio/speech":
		f.serveSpeech(w, r, body)
	case f.mode == backends.ModeOllama && r.URL.Path == "/":
		io.WriteString(w, "Ollama is running")
	default:
		http.NotFound(w, r)
	}
}

func (f *Fake) chatPath() string {
	if f.mode == backends.ModeOllama {
		return "/api/chat"
	}
	return "/v1/chat/completions"
}

func (f *Fake) modelsPath() string {
	if f.mode == backends.ModeOllama {
		return "/api/tags"
	}
	return "/v1/models"
}

func (f *Fake) serveModels(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "", f.mode)
		return
	}
	f.mu.Lock()
	names := slices.Clone(f.models)
	f.mu.Unlock()
	var body obj
	if f.mode == backends.ModeOllama {
		list := make([]obj, 0, len(names))
		for _, n := range names {
			list = append(list, obj{{"name", n}, {"model", n}, {"modified_at", fakeCreatedAt}, {"size", 522000},
				{"digest", "0123456789abcdef"}, {"details", obj{{"format", "gguf"}, {"family", "llama"}}}})
		}
		body = obj{{"models", list}}
	} else {
		list := make([]obj, 0, len(names))
		for _, n := range names {
			list = append(list, obj{{"id", n}, {"object", "model"}, {"created", fakeCreated}, {"owned_by", "fake"}})
		}
		body = obj{{"object", "list"}, {"data", list}}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(mustJSON(body))
}

// chatBody is what a fake reads from a chat request.
type chatBody struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Stream        *bool           `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`

	stream bool
	err    string
}

func parseChat(body []byte, mode string) chatBody {
	var c chatBody
	if err := json.Unmarshal(body, &c); err != nil {
		c.err = "invalid JSON body: " + err.Error()
		return c
	}
	c.stream = mode == backends.ModeOllama // Ollama streams unless told not to
	if c.Stream != nil {
		c.stream = *c.Stream
	}
	switch m := bytes.TrimSpace(c.Messages); {
	case len(m) == 0 || m[0] != '[':
		c.err = "messages must be an array"
	case c.Model == "":
		c.err = "model is required"
	}
	return c
}

func (f *Fake) serveChat(w http.ResponseWriter, r *http.Request, rec Request, c chatBody) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "", f.mode)
		return
	}
	if c.err != "" {
		writeError(w, http.StatusBadRequest, c.err, f.mode)
		return
	}
	f.mu.Lock()
	s, respond, strict, known := f.script, f.respond, f.strict, slices.Contains(f.models, c.Model)
	f.mu.Unlock()
	if strict && !known {
		if f.mode == backends.ModeOllama {
			writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", c.Model), f.mode)
		} else {
			writeError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist.", c.Model), f.mode)
		}
		return
	}
	if respond != nil {
		s = respond(rec)
	}
	ctx := r.Context()
	if s.Hold != nil {
		select {
		case <-s.Hold:
		case <-ctx.Done():
			return
		}
	}
	if s.Status != 0 && s.Status != http.StatusOK {
		writeStatus(w, s.Status, s.Body, f.mode)
		return
	}
	if !c.stream {
		wait := s.TTFT + time.Duration(max(len(s.Deltas)-1, 0))*s.TokenDelay
		if pause(ctx, wait) != nil {
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if f.mode == backends.ModeOllama {
			w.Write(ollamaAnswer(s, c.Model))
		} else {
			w.Write(openaiAnswer(f.flavour, s, c.Model))
		}
		return
	}
	var frames [][]byte
	if f.mode == backends.ModeOllama {
		w.Header().Set("Content-Type", "application/x-ndjson")
		frames = ollamaFrames(s, c.Model)
	} else {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		include := c.StreamOptions != nil && c.StreamOptions.IncludeUsage
		frames = openaiFrames(f.flavour, s, c.Model, include)
	}
	w.WriteHeader(http.StatusOK)
	flush(w)
	for i, fr := range frames {
		d := s.TokenDelay
		if i == 0 {
			d = s.TTFT
		}
		if pause(ctx, d) != nil {
			return
		}
		if _, err := w.Write(fr); err != nil {
			return
		}
		flush(w)
	}
	if s.Abort {
		panic(http.ErrAbortHandler)
	}
}

func (f *Fake) serveSpeech(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "", f.mode)
		return
	}
	var req backends.SpeechRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeDetail(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	if req.Input == "" {
		writeDetail(w, http.StatusBadRequest, "input is empty")
		return
	}
	f.mu.Lock()
	audio, ct := f.audio, f.audioType
	f.mu.Unlock()
	if ct == "" {
		w.Header()["Content-Type"] = nil // suppress sniffing: send no Content-Type at all
	} else {
		w.Header().Set("Content-Type", ct)
	}
	w.Write(audio)
}

// writeStatus answers status with body verbatim, or with the API's JSON error for the
// status text when body is "".
func writeStatus(w http.ResponseWriter, status int, body, mode string) {
	if body == "" {
		writeError(w, status, http.StatusText(status), mode)
		return
	}
	if json.Valid([]byte(body)) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// writeError answers status with msg in the API's JSON error shape.
func writeError(w http.ResponseWriter, status int, msg, mode string) {
	if msg == "" {
		msg = http.StatusText(status)
	}
	var body []byte
	if mode == backends.ModeOllama {
		body = mustJSON(obj{{"error", msg}})
	} else {
		body = mustJSON(obj{{"error", obj{{"message", msg}, {"type", "invalid_request_error"}, {"code", status}}}})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// writeDetail answers a FastAPI-style error, as the chatterbox TTS server does.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(mustJSON(obj{{"detail", detail}}))
}

func flush(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

// pause waits d on a time.Timer (fake time in a synctest bubble), or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
