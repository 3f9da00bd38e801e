package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/pin-client/pin-client/backends"
)

// Target is an adapter under RunConformance.
type Target struct {
	// Mode is backends.ModeOllama or backends.ModeOpenAI; it picks the fakes (an OpenAI
	// target is run against every Flavour).
	Mode string
	// New returns the adapter for the server at baseURL, sending with hc.
	New func(baseURL string, hc *http.Client) backends.Backend
}

// RunConformance checks that an adapter meets the backends.Backend contract against the
// fakes: models, streaming and non-streaming chat, thinking, tool calls fragmented over
// many frames, usage, truncated streams, errors with status and body, unreachable and
// malformed servers, cancellation and aborts (under testing/synctest), deltas delivered
// as they arrive, a stream split at every byte boundary, non-ASCII text, the request
// body, concurrency, and — when the adapter is a backends.Speaker — speech.
func RunConformance(t *testing.T, tg Target) {
	switch tg.Mode {
	case backends.ModeOllama:
		runConformance(t, suite{tg: tg})
	case backends.ModeOpenAI:
		for _, fl := range Flavours {
			t.Run(string(fl), func(t *testing.T) { runConformance(t, suite{tg: tg, flavour: fl}) })
		}
	default:
		t.Fatalf("backendtest: Target.Mode %q: want %q or %q", tg.Mode, backends.ModeOllama, backends.ModeOpenAI)
	}
}

type suite struct {
	tg      Target
	flavour Flavour
}

func (s suite) ollama() bool { return s.tg.Mode == backends.ModeOllama }

// fake returns a started fake (tb != nil) or a handler-only one (tb == nil).
func (s suite) fake(tb testing.TB, sc Script) *Fake {
	if s.ollama() {
		return NewOllama(tb, sc)
	}
	return NewOpenAI(tb, s.flavour, sc)
}

// over returns the adapter for a started fake.
func (s suite) over(f *Fake) backends.Backend { return s.tg.New(f.URL, &http.Client{}) }

// inMemory returns the adapter for f served in memory (synctest-safe).
func (s suite) inMemory(f *Fake) backends.Backend { return s.tg.New("http://fake.test", Client(f)) }

func (s suite) modelsPath() string {
	if s.ollama() {
		return "/api/tags"
	}
	return "/v1/models"
}

func (s suite) chatPath() string {
	if s.ollama() {
		return "/api/chat"
	}
	return "/v1/chat/completions"
}

// Fixtures shared by the checks.
const testModel = "test-model"

var testMessages = json.RawMessage(`[{"role":"system","content":"Be <brief> & kind."},{"role":"user","content":"Grüße, 世界 🎉"}]`)

func chatReq() *backends.ChatRequest {
	return &backends.ChatRequest{Model: testModel, Messages: testMessages}
}

func richScript() Script {
	return Answer("Hel", "lo, ", "wörld ", "世界", " 🎉").Thinking("Let me ", "think… ", "🤔")
}

func toolScript() Script {
	return Script{
		Deltas: []backends.Delta{{Kind: backends.KindThinking, Text: "need tools"}},
		ToolCalls: []ToolCall{
			{ID: "call_a", Name: "declare_role", Arguments: `{"role":"hiring","tags":["a","b"],"note":"naïve ✓"}`},
			{ID: "call_b", Name: "get_time", Arguments: `{"tz":"UTC","nested":{"x":1}}`},
		},
		ArgShard: 2,
	}
}

func runConformance(t *testing.T, s suite) {
	t.Run("models", s.testModels)
	t.Run("chat", s.testChat)
	t.Run("stream", s.testStream)
	t.Run("thinking_only", s.testThinkingOnly)
	t.Run("tool_calls", s.testToolCalls)
	t.Run("usage", s.testUsage)
	t.Run("incomplete", s.testIncomplete)
	t.Run("status_error", s.testStatusError)
	t.Run("unreachable", s.testUnreachable)
	t.Run("bad_response", s.testBadResponse)
	t.Run("stream_error", s.testStreamError)
	t.Run("dropped_connection", s.testDropped)
	t.Run("callback_abort", s.testCallbackAbort)
	t.Run("cancel", s.testCancel)
	t.Run("deltas_as_they_arrive", s.testTiming)
	t.Run("split_every_byte", s.testSplit)
	t.Run("request_body", s.testRequestBody)
	t.Run("concurrent", s.testConcurrent)
	if _, ok := s.tg.New("http://127.0.0.1:1", &http.Client{}).(backends.Speaker); ok {
		t.Run("speech", s.testSpeech)
	}
}

func (s suite) testModels(t *testing.T) {
	f := s.fake(t, Script{})
	b := s.over(f)
	ctx := t.Context()
	f.SetModels("alpha:1b", "beta", "γ-model")
	got, err := b.Models(ctx)
	if err != nil {
		t.Fatalf("Models: %v", err)
	}
	if want := []string{"alpha:1b", "beta", "γ-model"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Models = %q, want %q", got, want)
	}
	f.SetModels()
	got, err = b.Models(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("Models with none = %q, %v; want empty, nil", got, err)
	}
	f.Fail(s.modelsPath(), http.StatusUnauthorized, `{"error":"invalid api token"}`)
	_, err = b.Models(ctx)
	checkStatus(t, err, http.StatusUnauthorized, "invalid api token")
}

func (s suite) testChat(t *testing.T) {
	for _, sc := range []Script{richScript(), func() Script { x := richScript(); x.Model = "resolved:latest"; return x }()} {
		f := s.fake(t, sc)
		res, err := s.over(f).Chat(t.Context(), chatReq())
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		s.checkResult(t, res, sc, testModel)
		r, _ := f.LastRequest(s.chatPath())
		if r.Stream {
			t.Errorf("Chat sent stream=true")
		}
	}
}

func (s suite) testStream(t *testing.T) {
	for _, noise := range []bool{false, true} {
		sc := richScript()
		sc.Noise = noise
		f := s.fake(t, sc)
		var got []backends.Delta
		res, err := s.over(f).ChatStream(t.Context(), chatReq(), func(d backends.Delta) error {
			got = append(got, d)
			return nil
		})
		if err != nil {
			t.Fatalf("ChatStream (noise=%v): %v", noise, err)
		}
		if !reflect.DeepEqual(got, sc.Deltas) {
			t.Errorf("deltas (noise=%v) = %q, want %q", noise, got, sc.Deltas)
		}
		s.checkResult(t, res, sc, testModel)
		if res.Incomplete {
			t.Errorf("Incomplete set on a complete stream")
		}
		// A nil onDelta is allowed.
		if _, err := s.over(f).ChatStream(t.Context(), chatReq(), nil); err != nil {
			t.Fatalf("ChatStream with nil onDelta: %v", err)
		}
	}
}

func (s suite) testThinkingOnly(t *testing.T) {
	sc := Script{}.Thinking("still ", "thinking…")
	f := s.fake(t, sc)
	b := s.over(f)
	res, err := b.Chat(t.Context(), chatReq())
	if err != nil {
		t.Fatalf("Chat: thinking-only answer must not be an error: %v", err)
	}
	s.checkResult(t, res, sc, testModel)
	res, err = b.ChatStream(t.Context(), chatReq(), nil)
	if err != nil {
		t.Fatalf("ChatStream: thinking-only answer must not be an error: %v", err)
	}
	s.checkResult(t, res, sc, testModel)
}

func (s suite) testToolCalls(t *testing.T) {
	sc := toolScript()
	f := s.fake(t, sc)
	b := s.over(f)
	req := chatReq()
	req.Tools = json.RawMessage(`[{"type":"function","function":{"name":"declare_role","parameters":{"type":"object"}}}]`)
	res, err := b.Chat(t.Context(), req)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	s.checkResult(t, res, sc, testModel)
	res, err = b.ChatStream(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	s.checkResult(t, res, sc, testModel)
}

func (s suite) testUsage(t *testing.T) {
	for _, sc := range []Script{
		{Deltas: richScript().Deltas, Usage: &backends.Usage{PromptTokens: 11, CompletionTokens: 22, TotalTokens: 33}},
		{Deltas: richScript().Deltas, NoUsage: true},
	} {
		f := s.fake(t, sc)
		b := s.over(f)
		res, err := b.Chat(t.Context(), chatReq())
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		s.checkResult(t, res, sc, testModel)
		res, err = b.ChatStream(t.Context(), chatReq(), nil)
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		s.checkResult(t, res, sc, testModel)
	}
}

func (s suite) testIncomplete(t *testing.T) {
	sc := richScript()
	sc.OmitDone = true
	f := s.fake(t, sc)
	res, err := s.over(f).ChatStream(t.Context(), chatReq(), nil)
	if err != nil {
		t.Fatalf("ChatStream: a stream without its end is a result, not an error: %v", err)
	}
	if !res.Incomplete {
		t.Errorf("Incomplete = false for a stream that ended without its final frames")
	}
	want := sc
	want.NoUsage = true // no usage arrived
	s.checkResult(t, res, want, testModel)
}

func (s suite) testStatusError(t *testing.T) {
	long := strings.Repeat("line of a very long error page\n", 400)
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{http.StatusNotFound, "", "Not Found"},
		{http.StatusNotFound, `{"error":"model \"nope\" not found, try pulling it first"}`, `model "nope" not found`},
		{http.StatusBadRequest, `{"error":{"message":"tools are not supported","type":"invalid_request_error"}}`, "tools are not supported"},
		{http.StatusServiceUnavailable, long, "line of a very long error page line of"},
	} {
		f := s.fake(t, Script{Status: c.status, Body: c.body})
		b := s.over(f)
		_, err := b.Chat(t.Context(), chatReq())
		checkStatus(t, err, c.status, c.want)
		_, err = b.ChatStream(t.Context(), chatReq(), func(backends.Delta) error {
			t.Errorf("delta delivered for an error answer")
			return nil
		})
		checkStatus(t, err, c.status, c.want)
	}
	// A strict fake refuses unknown models the way the real server does.
	f := s.fake(t, richScript())
	f.SetStrictModels(true)
	_, err := s.over(f).Chat(t.Context(), chatReq())
	checkStatus(t, err, http.StatusNotFound, testModel)
}

func (s suite) testUnreachable(t *testing.T) {
	f := s.fake(t, richScript())
	b := s.over(f)
	f.Close()
	for name, call := range map[string]func() error{
		"Models":     func() error { _, err := b.Models(t.Context()); return err },
		"Chat":       func() error { _, err := b.Chat(t.Context(), chatReq()); return err },
		"ChatStream": func() error { _, err := b.ChatStream(t.Context(), chatReq(), nil); return err },
	} {
		err := call()
		if !errors.Is(err, backends.ErrUnreachable) {
			t.Errorf("%s on a closed server: err = %v, want ErrUnreachable", name, err)
		}
		checkOneLine(t, err)
	}
}

func (s suite) testBadResponse(t *testing.T) {
	f := s.fake(t, Script{Raw: []byte("<html><body>502 Bad Gateway</body></html>")})
	b := s.over(f)
	_, err := b.Chat(t.Context(), chatReq())
	if !errors.Is(err, backends.ErrBadResponse) {
		t.Errorf("Chat with an HTML answer: err = %v, want ErrBadResponse", err)
	}
	checkOneLine(t, err)
	f.Fail(s.modelsPath(), http.StatusOK, "this is not JSON")
	_, err = b.Models(t.Context())
	if !errors.Is(err, backends.ErrBadResponse) {
		t.Errorf("Models with a non-JSON answer: err = %v, want ErrBadResponse", err)
	}
	checkOneLine(t, err)
	f.Fail(s.modelsPath(), http.StatusOK, `{"unexpected":true}`)
	if _, err = b.Models(t.Context()); !errors.Is(err, backends.ErrBadResponse) {
		t.Errorf("Models with a foreign JSON answer: err = %v, want ErrBadResponse", err)
	}
	// A stream of nothing but garbage is not a crash: no deltas, an empty result.
	f.SetScript(Script{Raw: []byte("garbage\n{\"half\":\n\x00\xff\n")})
	res, err := b.ChatStream(t.Context(), chatReq(), nil)
	if err != nil {
		t.Fatalf("ChatStream over garbage lines: %v (malformed lines are skipped)", err)
	}
	if m := res.Choices[0].Message; m.Content != "" || m.Thinking != "" || !res.Incomplete {
		t.Errorf("garbage stream: content %q thinking %q incomplete %v; want empty, incomplete", m.Content, m.Thinking, res.Incomplete)
	}
}

func (s suite) testStreamError(t *testing.T) {
	sc := Answer("partial ")
	sc.StreamError = "CUDA out of memory"
	f := s.fake(t, sc)
	var got []backends.Delta
	_, err := s.over(f).ChatStream(t.Context(), chatReq(), func(d backends.Delta) error {
		got = append(got, d)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CUDA out of memory") {
		t.Fatalf("ChatStream with an in-stream error: err = %v, want one naming the server's message", err)
	}
	checkOneLine(t, err)
	if !reflect.DeepEqual(got, sc.Deltas) {
		t.Errorf("deltas before the error = %q, want %q", got, sc.Deltas)
	}
}

func (s suite) testDropped(t *testing.T) {
	sc := richScript()
	sc.StopAfter, sc.Abort = 3, true
	f := s.fake(t, sc)
	_, err := s.over(f).ChatStream(t.Context(), chatReq(), nil)
	if err == nil {
		t.Fatalf("ChatStream over a dropped connection returned no error")
	}
	checkOneLine(t, err)
}

func (s suite) testCallbackAbort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := richScript()
		sc.TokenDelay = time.Second
		f := s.fake(nil, sc)
		stop := errors.New("writer closed mid-stream")
		n := 0
		start := time.Now()
		_, err := s.inMemory(f).ChatStream(t.Context(), chatReq(), func(d backends.Delta) error {
			n++
			if n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("err = %v, want the callback's error wrapped", err)
		}
		if n != 2 {
			t.Errorf("onDelta called %d times, want 2 (no delta after an abort)", n)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("abort returned after %v, want right after the 2nd delta", el)
		}
		synctest.Wait()
		if f.InFlight() != 0 {
			t.Errorf("the backend request is still running after an abort")
		}
	})
}

func (s suite) testCancel(t *testing.T) {
	for _, c := range []struct {
		name   string
		stream bool
		sc     Script
	}{
		{"stream_mid_answer", true, Script{Deltas: richScript().Deltas, TokenDelay: time.Hour}},
		{"stream_before_headers", true, Script{Hold: make(chan struct{})}}, // replaced in the bubble
		{"chat_while_generating", false, Script{Deltas: richScript().Deltas, TTFT: time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				if c.sc.Hold != nil {
					c.sc.Hold = make(chan struct{}) // never closed; made in the bubble so waiting on it is durable
				}
				f := s.fake(nil, c.sc)
				b := s.inMemory(f)
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				start := time.Now()
				var err error
				if c.stream {
					_, err = b.ChatStream(ctx, chatReq(), nil)
				} else {
					_, err = b.Chat(ctx, chatReq())
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want context.DeadlineExceeded wrapped", err)
				}
				if el := time.Since(start); el != 10*time.Second {
					t.Errorf("returned after %v, want exactly at the 10s deadline", el)
				}
				synctest.Wait()
				if f.InFlight() != 0 {
					t.Errorf("the backend request is still running after cancellation")
				}
			})
		})
	}
}

func (s suite) testTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := Answer("a", "b", "c", "d")
		sc.TTFT, sc.TokenDelay = 2*time.Second, 100*time.Millisecond
		f := s.fake(nil, sc)
		start := time.Now()
		var at []time.Duration
		_, err := s.inMemory(f).ChatStream(t.Context(), chatReq(), func(backends.Delta) error {
			at = append(at, time.Since(start))
			return nil
		})
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		if len(at) != 4 || at[0] < 2*time.Second || at[0] > 2*time.Second+300*time.Millisecond || at[3]-at[0] != 300*time.Millisecond {
			t.Errorf("deltas arrived at %v; want each as soon as it was sent (first ≈2s, then every 100ms)", at)
		}
	})
}

func (s suite) testSplit(t *testing.T) {
	// Small but complete: thinking, multibyte content, a fragmented tool call, usage,
	// noise. Every byte boundary costs one request, so the body is kept short.
	sc := Answer("Grü", "ße 世", "界 🎉").Thinking("思考…")
	sc.ToolCalls = []ToolCall{{ID: "c1", Name: "f", Arguments: `{"q":"naïve ✓"}`}}
	sc.ArgShard = 5
	sc.Noise = true
	body := OllamaStream(sc, testModel)
	if !s.ollama() {
		body = OpenAIStream(s.flavour, sc, testModel, true)
	}
	f := s.fake(nil, Script{Raw: body}) // the same bytes, rendered once
	run := func(shape func(io.ReadCloser) io.ReadCloser) (*backends.ChatResult, []backends.Delta, error) {
		b := s.tg.New("http://fake.test", &http.Client{Transport: shaper{Client(f).Transport, shape}})
		var got []backends.Delta
		res, err := b.ChatStream(t.Context(), chatReq(), func(d backends.Delta) error {
			got = append(got, d)
			return nil
		})
		return res, got, err
	}
	want, wantDeltas, err := run(whole)
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	s.checkResult(t, want, sc, testModel)
	check := func(name string, shape func(io.ReadCloser) io.ReadCloser) bool {
		res, deltas, err := run(shape)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return false
		}
		if !reflect.DeepEqual(res, want) || !reflect.DeepEqual(deltas, wantDeltas) {
			t.Errorf("%s: result or deltas differ from the unsplit stream:\n got %+v %q\nwant %+v %q", name, res, deltas, want, wantDeltas)
			return false
		}
		for _, d := range deltas {
			if !utf8.ValidString(d.Text) {
				t.Errorf("%s: delta %q is not valid UTF-8", name, d.Text)
				return false
			}
		}
		return true
	}
	if !check("one byte per read", func(r io.ReadCloser) io.ReadCloser { return readCloser{iotest.OneByteReader(r), r} }) {
		return
	}
	for k := 1; k < len(body); k++ {
		if !check("split at byte "+strconv.Itoa(k), splitAt(k)) {
			return
		}
	}
}

func (s suite) testRequestBody(t *testing.T) {
	f := s.fake(t, richScript())
	b := s.over(f)
	temp, maxTok := 0.15, 64
	tools := json.RawMessage(`[{"type":"function","function":{"name":"declare_role","parameters":{"type":"object"}}}]`)
	choice := json.RawMessage(`"auto"`)
	for _, c := range []struct {
		name   string
		stream bool
		req    backends.ChatRequest
	}{
		{"plain", false, backends.ChatRequest{Model: testModel, Messages: testMessages}},
		{"plain_stream", true, backends.ChatRequest{Model: testModel, Messages: testMessages}},
		{"null_tools", true, backends.ChatRequest{Model: testModel, Messages: testMessages, Tools: json.RawMessage("null"), ToolChoice: json.RawMessage("null")}},
		{"options", false, backends.ChatRequest{Model: testModel, Messages: testMessages, Temperature: &temp, MaxTokens: &maxTok}},
		{"zero_options", true, backends.ChatRequest{Model: testModel, Messages: testMessages, Temperature: new(float64), MaxTokens: new(int)}},
		{"tools", false, backends.ChatRequest{Model: testModel, Messages: testMessages, Tools: tools, ToolChoice: choice}},
		{"tools_stream", true, backends.ChatRequest{Model: testModel, Messages: testMessages, Tools: tools, ToolChoice: choice}},
		{"tool_choice_alone_stream", true, backends.ChatRequest{Model: testModel, Messages: testMessages, ToolChoice: choice}},
	} {
		var err error
		if c.stream {
			_, err = b.ChatStream(t.Context(), &c.req, nil)
		} else {
			_, err = b.Chat(t.Context(), &c.req)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r, _ := f.LastRequest(s.chatPath())
		s.checkRequest(t, c.name, r.Body, &c.req, c.stream)
	}
}

// checkRequest checks what the adapter sent: every key and nothing else (pin-protocol
// §6.2, §6.3), messages byte-for-byte (compacted, not HTML-escaped), absent never null.
func (s suite) checkRequest(t *testing.T, name string, body []byte, req *backends.ChatRequest, stream bool) {
	t.Helper()
	var got map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		t.Errorf("%s: request body is not a JSON object: %v", name, err)
		return
	}
	want := map[string]string{"model": string(mustJSON(req.Model)), "messages": compact(req.Messages), "stream": string(mustJSON(stream))}
	hasTools := present(req.Tools)
	if s.ollama() {
		if req.Temperature != nil || req.MaxTokens != nil {
			o := obj{}
			if req.Temperature != nil {
				o = append(o, kv{"temperature", *req.Temperature})
			}
			if req.MaxTokens != nil {
				o = append(o, kv{"num_predict", *req.MaxTokens})
			}
			want["options"] = string(mustJSON(o))
		}
	} else {
		if stream {
			want["stream_options"] = `{"include_usage":true}`
		}
		if req.Temperature != nil {
			want["temperature"] = string(mustJSON(*req.Temperature))
		}
		if req.MaxTokens != nil {
			want["max_tokens"] = string(mustJSON(*req.MaxTokens))
		}
		if present(req.ToolChoice) && (hasTools || !stream) {
			want["tool_choice"] = compact(req.ToolChoice)
		}
	}
	if hasTools {
		want["tools"] = compact(req.Tools)
	}
	gotS := make(map[string]string, len(got))
	for k, v := range got {
		gotS[k] = string(v)
	}
	if !reflect.DeepEqual(gotS, want) {
		t.Errorf("%s: request body\n got %s\nwant the keys %q", name, body, want)
	}
	if bytes.Contains(body, []byte("null")) {
		t.Errorf("%s: request body contains null: %s", name, body)
	}
}

func (s suite) testConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hold := make(chan struct{})
		sc := richScript()
		sc.Hold = hold
		f := s.fake(nil, sc)
		b := s.inMemory(f)
		const n = 8
		var wg sync.WaitGroup
		results := make([]*backends.ChatResult, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				if i%2 == 0 {
					results[i], errs[i] = b.ChatStream(t.Context(), chatReq(), nil)
				} else {
					results[i], errs[i] = b.Chat(t.Context(), chatReq())
				}
			})
		}
		synctest.Wait()
		if got := f.InFlight(); got != n {
			t.Errorf("InFlight = %d with %d held requests", got, n)
		}
		close(hold)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			sc.Hold = nil
			s.checkResult(t, results[i], sc, testModel)
		}
		if f.MaxInFlight() != n || f.InFlight() != 0 {
			t.Errorf("MaxInFlight = %d, InFlight = %d; want %d, 0", f.MaxInFlight(), f.InFlight(), n)
		}
	})
}

func (s suite) testSpeech(t *testing.T) {
	audio := make([]byte, 256)
	for i := range audio {
		audio[i] = byte(i)
	}
	f := NewTTS(t, audio, "audio/mpeg")
	sp := s.tg.New(f.URL, &http.Client{}).(backends.Speaker)
	speed := 1.1
	got, err := sp.Speech(t.Context(), &backends.SpeechRequest{Model: "chatterbox-turbo", Input: "Welcome.", Voice: "ris", ResponseFormat: "mp3", Speed: &speed})
	if err != nil {
		t.Fatalf("Speech: %v", err)
	}
	if !bytes.Equal(got.Audio, audio) || got.ContentType != "audio/mpeg" {
		t.Errorf("Speech = %d bytes %q; want the 256 bytes as sent, audio/mpeg", len(got.Audio), got.ContentType)
	}
	r, _ := f.LastRequest("/v1/audio/speech")
	if want := `{"model":"chatterbox-turbo","input":"Welcome.","voice":"ris","response_format":"mp3","speed":1.1}`; compact(r.Body) != want {
		t.Errorf("speech request = %s, want %s", r.Body, want)
	}
	_, err = sp.Speech(t.Context(), &backends.SpeechRequest{Model: "m", Input: "x", Voice: "default", ResponseFormat: "wav"})
	if err != nil {
		t.Fatalf("Speech: %v", err)
	}
	if r, _ := f.LastRequest("/v1/audio/speech"); bytes.Contains(r.Body, []byte("speed")) {
		t.Errorf("speech request without speed sent %s", r.Body)
	}
	f.SetSpeech([]byte("<html>"), "") // no header; a sniffing server would say text/html
	if got, err = sp.Speech(t.Context(), &backends.SpeechRequest{Model: "m", Input: "x"}); err != nil || got.ContentType != "application/octet-stream" {
		t.Errorf("Speech without Content-Type = %v, %v; want application/octet-stream", got, err)
	}
	f.SetSpeech(nil, "audio/wav")
	if _, err = sp.Speech(t.Context(), &backends.SpeechRequest{Model: "m", Input: "x"}); err == nil {
		t.Errorf("Speech with an empty body returned no error")
	}
	_, err = sp.Speech(t.Context(), &backends.SpeechRequest{Model: "m", Input: ""})
	checkStatus(t, err, http.StatusBadRequest, "input is empty")
	var se *backends.StatusError
	if errors.As(err, &se) && se.Backend != "TTS" {
		t.Errorf("StatusError.Backend = %q, want TTS", se.Backend)
	}
}

// checkResult compares res with what sc should produce.
func (s suite) checkResult(t *testing.T, res *backends.ChatResult, sc Script, requested string) {
	t.Helper()
	if res == nil || len(res.Choices) != 1 {
		t.Fatalf("result %+v: want exactly one choice", res)
	}
	content, thinking := sc.texts()
	m := res.Choices[0].Message
	if m.Role != "assistant" || m.Content != content || m.Thinking != thinking {
		t.Errorf("message = role %q content %q thinking %q; want assistant %q %q", m.Role, m.Content, m.Thinking, content, thinking)
	}
	if want := sc.model(requested); res.Model != want {
		t.Errorf("model = %q, want %q", res.Model, want)
	}
	finish := "stop"
	if !s.ollama() {
		finish = sc.finishReason()
	}
	if res.Choices[0].FinishReason != finish {
		t.Errorf("finish_reason = %q, want %q", res.Choices[0].FinishReason, finish)
	}
	wantUsage := sc.usage()
	if wantUsage == nil && s.ollama() {
		wantUsage = &backends.Usage{} // Ollama: zeros, never estimated
	}
	if !reflect.DeepEqual(res.Usage, wantUsage) {
		t.Errorf("usage = %+v, want %+v", res.Usage, wantUsage)
	}
	gotCalls, err := normCalls(m.ToolCalls)
	if err != nil {
		t.Errorf("tool_calls %s: %v", m.ToolCalls, err)
	}
	var wantCalls []call
	for i, tc := range sc.ToolCalls {
		c := call{Name: tc.Name, Args: canon(json.RawMessage(tc.Arguments))}
		if !s.ollama() || tc.ID != "" {
			c.ID = callID(tc, i)
		}
		wantCalls = append(wantCalls, c)
	}
	if !reflect.DeepEqual(gotCalls, wantCalls) {
		t.Errorf("tool_calls = %+v, want %+v", gotCalls, wantCalls)
	}
	if len(sc.ToolCalls) == 0 && m.ToolCalls != nil {
		t.Errorf("tool_calls = %s, want absent", m.ToolCalls)
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Errorf("result does not marshal: %v", err)
	} else if bytes.Contains(out, []byte(`"thinking":null`)) || bytes.Contains(out, []byte(`"tool_calls":null`)) {
		t.Errorf("result marshals a null optional: %s", out)
	}
}

// call is a tool call reduced to what must survive any adapter.
type call struct {
	ID, Name, Args string
}

func normCalls(raw json.RawMessage) ([]call, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var list []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	var out []call
	for _, c := range list {
		args := c.Function.Arguments
		var s string
		if json.Unmarshal(args, &s) == nil { // OpenAI: a JSON string holding JSON
			args = json.RawMessage(s)
		}
		out = append(out, call{ID: c.ID, Name: c.Function.Name, Args: canon(args)})
	}
	return out, nil
}

// canon re-encodes JSON with sorted keys ("" when invalid).
func canon(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "invalid:" + string(raw)
	}
	return string(mustJSON(v))
}

func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

// checkStatus wants a *backends.StatusError with the code, a body naming want, bounded
// to one line.
func checkStatus(t *testing.T, err error, code int, want string) {
	t.Helper()
	var se *backends.StatusError
	if !errors.As(err, &se) {
		t.Errorf("err = %v, want a *backends.StatusError %d", err, code)
		return
	}
	if se.StatusCode != code || !strings.Contains(se.Error(), want) {
		t.Errorf("StatusError %d %q, want %d naming %q", se.StatusCode, se.Error(), code, want)
	}
	if len(se.Body) > 520 {
		t.Errorf("StatusError body is %d bytes; want a bounded excerpt", len(se.Body))
	}
	checkOneLine(t, err)
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error message is not one line: %q", err.Error())
	}
}

// shaper changes how response bodies are read.
type shaper struct {
	base  http.RoundTripper
	shape func(io.ReadCloser) io.ReadCloser
}

func (s shaper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(req)
	if err == nil {
		resp.Body = s.shape(resp.Body)
	}
	return resp, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// whole delivers the body in one read (as far as the reader's buffer allows).
func whole(r io.ReadCloser) io.ReadCloser {
	b, err := io.ReadAll(r)
	return readCloser{io.MultiReader(bytes.NewReader(b), iotest.ErrReader(errOr(err, io.EOF))), r}
}

// splitAt delivers the first k bytes in one read and the rest in the next.
func splitAt(k int) func(io.ReadCloser) io.ReadCloser {
	return func(r io.ReadCloser) io.ReadCloser {
		b, err := io.ReadAll(r)
		k := min(k, len(b))
		return readCloser{io.MultiReader(onceReader(b[:k]), onceReader(b[k:]), iotest.ErrReader(errOr(err, io.EOF))), r}
	}
}

// onceReader returns b in a single Read (when p is large enough).
func onceReader(b []byte) io.Reader { return &once{b: b} }

type once struct{ b []byte }

func (o *once) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	return n, nil
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
