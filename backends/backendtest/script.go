package backendtest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pin-client/pin-client/backends"
)

// Script is what a fake answers to one chat request. The zero value answers an empty
// (but complete) reply. Fields marked "stream" only affect streaming answers.
type Script struct {
	// Model is the model name the answer reports; "" echoes the requested model.
	Model string
	// Deltas are streamed in order, one frame each (a thinking delta as reasoning). A
	// non-streaming answer carries their concatenation per kind.
	Deltas []backends.Delta
	// ToolCalls are answered after the deltas: Ollama sends each call whole in its own
	// line; OpenAI flavours stream each as fragments with arguments split every ArgShard
	// bytes (never inside a character).
	ToolCalls []ToolCall
	// ArgShard is the size of an OpenAI arguments fragment (default 3 bytes).
	ArgShard int
	// Usage is the reported token count. nil reports {PromptTokens: 7,
	// CompletionTokens: len(Deltas)+len(ToolCalls)}; NoUsage reports none at all.
	Usage   *backends.Usage
	NoUsage bool
	// FinishReason is the OpenAI finish_reason (default "stop", or "tool_calls" with
	// ToolCalls). Ollama always says done_reason "stop".
	FinishReason string

	// TTFT delays the first frame (non-streaming: the answer); TokenDelay is the gap
	// between frames (non-streaming: added per delta). Both use time.Timer, so they run
	// on the fake clock inside a testing/synctest bubble.
	TTFT, TokenDelay time.Duration
	// Hold, if non-nil, makes the request wait (before any byte is sent) until Hold is
	// closed or the client gives up. Use it to keep requests in flight.
	Hold <-chan struct{}

	// Status, if not 0 or 200, answers this HTTP status with Body (default: a JSON error
	// of the API's shape) instead of a completion.
	Status int
	Body   string

	// StreamError (stream) sends an in-stream error frame with this message after the
	// deltas, as a server that fails after its 200 does; nothing follows it.
	StreamError string
	// OmitDone (stream) ends without the final frames: Ollama's done line, or OpenAI's
	// finish_reason, usage and [DONE].
	OmitDone bool
	// StopAfter (stream), if > 0, ends the body cleanly after that many frames.
	StopAfter int
	// Abort (stream) drops the connection after the frames instead of ending the body,
	// so the client sees a truncated transfer.
	Abort bool
	// Noise (stream) adds what a parser must tolerate: CRLF line ends, blank lines,
	// unknown fields, one malformed line, and for SSE comment, id: and event: lines.
	Noise bool
	// Raw, if non-nil, is sent as the body verbatim (stream or not); the fields above
	// except the delays, Hold and Status are then ignored.
	Raw []byte
}

// ToolCall is one call a fake answers.
type ToolCall struct {
	ID        string // OpenAI call id; default "call_<n>" (n from 0)
	Name      string
	Arguments string // a JSON object as text, e.g. {"city":"Paris"}
}

// Answer is a Script that streams content as the given deltas (convenience).
func Answer(content ...string) Script {
	s := Script{}
	for _, c := range content {
		s.Deltas = append(s.Deltas, backends.Delta{Kind: backends.KindContent, Text: c})
	}
	return s
}

// Thinking returns the script with thinking deltas put before its other deltas.
func (s Script) Thinking(thoughts ...string) Script {
	d := make([]backends.Delta, 0, len(thoughts)+len(s.Deltas))
	for _, t := range thoughts {
		d = append(d, backends.Delta{Kind: backends.KindThinking, Text: t})
	}
	s.Deltas = append(d, s.Deltas...)
	return s
}

// Flavour selects which OpenAI-compatible server a fake imitates. Each differs in what a
// client must tolerate.
type Flavour string

const (
	// LlamaCpp is llama-server: delta.reasoning_content, a first frame with content
	// null, usage and timings on the finish frame, errors as an "error: {…}" SSE line.
	LlamaCpp Flavour = "llama.cpp"
	// VLLM is vLLM: delta.reasoning (the alias), "usage":null on every frame and a final
	// usage-only frame with "choices":[].
	VLLM Flavour = "vllm"
	// LMStudio is LM Studio: delta.reasoning_content, system_fingerprint, usage on the
	// finish frame.
	LMStudio Flavour = "lmstudio"
)

// Flavours lists every OpenAI-compatible flavour.
var Flavours = []Flavour{LlamaCpp, VLLM, LMStudio}

func (fl Flavour) reasoningKey() string {
	if fl == VLLM {
		return "reasoning"
	}
	return "reasoning_content"
}

// usage returns the usage to report, or nil for none.
func (s Script) usage() *backends.Usage {
	if s.NoUsage {
		return nil
	}
	if s.Usage != nil {
		u := *s.Usage
		return &u
	}
	n := len(s.Deltas) + len(s.ToolCalls)
	return &backends.Usage{PromptTokens: 7, CompletionTokens: n, TotalTokens: 7 + n}
}

func (s Script) texts() (content, thinking string) {
	var c, t strings.Builder
	for _, d := range s.Deltas {
		if d.Kind == backends.KindThinking {
			t.WriteString(d.Text)
		} else {
			c.WriteString(d.Text)
		}
	}
	return c.String(), t.String()
}

func (s Script) finishReason() string {
	switch {
	case s.FinishReason != "":
		return s.FinishReason
	case len(s.ToolCalls) > 0:
		return "tool_calls"
	}
	return "stop"
}

func (s Script) model(requested string) string {
	if s.Model != "" {
		return s.Model
	}
	return requested
}

func callID(tc ToolCall, i int) string {
	if tc.ID != "" {
		return tc.ID
	}
	return "call_" + strconv.Itoa(i)
}

// argsObject is the call's arguments as a JSON value (a string when not valid JSON).
func argsObject(tc ToolCall) json.RawMessage {
	if json.Valid([]byte(tc.Arguments)) && strings.TrimSpace(tc.Arguments) != "" {
		return json.RawMessage(tc.Arguments)
	}
	return mustJSON(tc.Arguments)
}

// obj is an ordered JSON object, so fake bodies are deterministic and realistic.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(f.k))
		b.WriteByte(':')
		v, err := marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func mustJSON(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic("backendtest: " + err.Error())
	}
	return b
}

const fakeCreatedAt = "2025-01-01T00:00:00.000000Z"

// --- Ollama -----------------------------------------------------------------------

// OllamaStream returns the exact NDJSON body the Ollama fake streams for s when asked for
// model (for parser tests, fuzz seeds and benchmarks). Delays and Hold do not apply.
func OllamaStream(s Script, model string) []byte {
	return bytes.Join(ollamaFrames(s, model), nil)
}

func ollamaMsg(role, content string, extra ...kv) obj {
	return append(obj{{"role", role}, {"content", content}}, extra...)
}

func ollamaFrames(s Script, model string) [][]byte {
	if s.Raw != nil {
		return [][]byte{s.Raw}
	}
	m := s.model(model)
	eol := "\n"
	if s.Noise {
		eol = "\r\n"
	}
	var frames [][]byte
	add := func(o obj) { frames = append(frames, append(mustJSON(o), eol...)) }
	line := func(msg obj) obj {
		o := obj{{"model", m}, {"created_at", fakeCreatedAt}, {"message", msg}, {"done", false}}
		if s.Noise {
			o = append(o, kv{"x_unknown", obj{{"nested", []int{1, 2}}}})
		}
		return o
	}
	for i, d := range s.Deltas {
		if d.Kind == backends.KindThinking {
			add(line(ollamaMsg("assistant", "", kv{"thinking", d.Text})))
		} else {
			add(line(ollamaMsg("assistant", d.Text)))
		}
		if s.Noise && i == 0 {
			frames = append(frames, []byte(eol), []byte(`{"model":"`+m+`","message":{"content":`+eol))
		}
	}
	for i, tc := range s.ToolCalls {
		call := obj{{"function", obj{{"index", i}, {"name", tc.Name}, {"arguments", argsObject(tc)}}}}
		if tc.ID != "" {
			call = append(obj{{"id", tc.ID}}, call...)
		}
		add(line(ollamaMsg("assistant", "", kv{"tool_calls", []obj{call}})))
	}
	if s.StreamError != "" {
		add(obj{{"error", s.StreamError}})
		return cut(frames, s.StopAfter)
	}
	frames = cut(frames, s.StopAfter)
	if s.OmitDone || s.StopAfter > 0 {
		return frames
	}
	done := obj{{"model", m}, {"created_at", fakeCreatedAt}, {"message", ollamaMsg("assistant", "")},
		{"done", true}, {"done_reason", "stop"}, {"total_duration", 123456789}, {"load_duration", 1234567}}
	if u := s.usage(); u != nil {
		done = append(done, kv{"prompt_eval_count", u.PromptTokens}, kv{"prompt_eval_duration", 1000000},
			kv{"eval_count", u.CompletionTokens}, kv{"eval_duration", 100000000})
	}
	add(done)
	return frames
}

// ollamaAnswer is the non-streaming /api/chat body.
func ollamaAnswer(s Script, model string) []byte {
	if s.Raw != nil {
		return s.Raw
	}
	content, thinking := s.texts()
	msg := ollamaMsg("assistant", content)
	if thinking != "" {
		msg = append(msg, kv{"thinking", thinking})
	}
	if len(s.ToolCalls) > 0 {
		var calls []obj
		for i, tc := range s.ToolCalls {
			c := obj{{"function", obj{{"index", i}, {"name", tc.Name}, {"arguments", argsObject(tc)}}}}
			if tc.ID != "" {
				c = append(obj{{"id", tc.ID}}, c...)
			}
			calls = append(calls, c)
		}
		msg = append(msg, kv{"tool_calls", calls})
	}
	o := obj{{"model", s.model(model)}, {"created_at", fakeCreatedAt}, {"message", msg},
		{"done", true}, {"done_reason", "stop"}, {"total_duration", 123456789}}
	if u := s.usage(); u != nil {
		o = append(o, kv{"prompt_eval_count", u.PromptTokens}, kv{"eval_count", u.CompletionTokens})
	}
	return mustJSON(o)
}

// --- OpenAI-compatible ------------------------------------------------------------

const fakeCreated = 1735689600

// OpenAIStream returns the exact SSE body the OpenAI-compatible fake of flavour fl
// streams for s when asked for model, with or without stream_options.include_usage (for
// parser tests, fuzz seeds and benchmarks). Delays and Hold do not apply.
func OpenAIStream(fl Flavour, s Script, model string, includeUsage bool) []byte {
	return bytes.Join(openaiFrames(fl, s, model, includeUsage), nil)
}

func openaiFrames(fl Flavour, s Script, model string, includeUsage bool) [][]byte {
	if s.Raw != nil {
		return [][]byte{s.Raw}
	}
	m := s.model(model)
	eol := "\n"
	if s.Noise {
		eol = "\r\n"
	}
	var frames [][]byte
	n := 0
	event := func(payload []byte) {
		var b bytes.Buffer
		if s.Noise {
			if n%3 == 1 {
				b.WriteString(": keep-alive" + eol + eol)
			}
			if n%4 == 2 {
				b.WriteString("event: message" + eol + "id: " + strconv.Itoa(n) + eol)
			}
		}
		if s.Noise && n%2 == 1 {
			b.WriteString("data:") // no space is valid SSE
		} else {
			b.WriteString("data: ")
		}
		b.Write(payload)
		b.WriteString(eol + eol)
		frames = append(frames, b.Bytes())
		n++
	}
	head := func(choices any) obj {
		o := obj{{"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"}, {"created", fakeCreated}, {"model", m}}
		if fl == LMStudio {
			o = append(o, kv{"system_fingerprint", m})
		}
		o = append(o, kv{"choices", choices})
		if fl == VLLM && includeUsage {
			o = append(o, kv{"usage", nil})
		}
		if s.Noise {
			o = append(o, kv{"x_unknown", obj{{"a", []int{1}}}})
		}
		return o
	}
	choice := func(delta obj, finish any) []obj {
		c := obj{{"index", 0}, {"delta", delta}}
		if fl == VLLM {
			c = append(c, kv{"logprobs", nil})
		}
		return []obj{append(c, kv{"finish_reason", finish})}
	}
	var first any = ""
	if fl == LlamaCpp {
		first = nil
	}
	event(mustJSON(head(choice(obj{{"role", "assistant"}, {"content", first}}, nil))))
	for i, d := range s.Deltas {
		if d.Kind == backends.KindThinking {
			event(mustJSON(head(choice(obj{{fl.reasoningKey(), d.Text}}, nil))))
		} else {
			event(mustJSON(head(choice(obj{{"content", d.Text}}, nil))))
		}
		if s.Noise && i == 0 {
			frames = append(frames, []byte(`data: {"choices":[{"delta":{"content":"`+eol+eol))
		}
	}
	shard := s.ArgShard
	if shard <= 0 {
		shard = 3
	}
	for i, tc := range s.ToolCalls {
		start := obj{{"index", i}, {"id", callID(tc, i)}, {"type", "function"}, {"function", obj{{"name", tc.Name}, {"arguments", ""}}}}
		event(mustJSON(head(choice(obj{{"tool_calls", []obj{start}}}, nil))))
		for _, part := range shards(tc.Arguments, shard) {
			frag := obj{{"index", i}, {"function", obj{{"arguments", part}}}}
			event(mustJSON(head(choice(obj{{"tool_calls", []obj{frag}}}, nil))))
		}
	}
	if s.StreamError != "" {
		if fl == LlamaCpp {
			frames = append(frames, []byte("error: "+string(mustJSON(obj{{"code", 500}, {"message", s.StreamError}, {"type", "server_error"}}))+eol+eol))
		} else {
			event(mustJSON(obj{{"error", obj{{"message", s.StreamError}, {"type", "server_error"}, {"code", 500}}}}))
		}
		return cut(frames, s.StopAfter)
	}
	frames = cut(frames, s.StopAfter)
	if s.OmitDone || s.StopAfter > 0 {
		return frames
	}
	u := s.usage()
	if !includeUsage {
		u = nil
	}
	fin := head(choice(obj{}, s.finishReason()))
	if u != nil && (fl == LlamaCpp || fl == LMStudio) {
		fin = append(fin, kv{"usage", u})
	}
	if fl == LlamaCpp {
		fin = append(fin, kv{"timings", obj{{"prompt_n", 7}, {"predicted_per_second", 42.5}}})
	}
	event(mustJSON(fin))
	if u != nil && fl == VLLM {
		event(mustJSON(obj{{"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"}, {"created", fakeCreated}, {"model", m}, {"choices", []obj{}}, {"usage", u}}))
	}
	frames = append(frames, []byte("data: [DONE]"+eol+eol))
	return frames
}

// openaiAnswer is the non-streaming /v1/chat/completions body. Content is null when it
// is empty beside tool calls, as OpenAI sends it.
func openaiAnswer(fl Flavour, s Script, model string) []byte {
	if s.Raw != nil {
		return s.Raw
	}
	content, thinking := s.texts()
	var c any = content
	if content == "" && len(s.ToolCalls) > 0 {
		c = nil
	}
	msg := obj{{"role", "assistant"}, {"content", c}}
	if thinking != "" {
		msg = append(msg, kv{fl.reasoningKey(), thinking})
	}
	if len(s.ToolCalls) > 0 {
		var calls []obj
		for i, tc := range s.ToolCalls {
			calls = append(calls, obj{{"id", callID(tc, i)}, {"type", "function"}, {"function", obj{{"name", tc.Name}, {"arguments", tc.Arguments}}}})
		}
		msg = append(msg, kv{"tool_calls", calls})
	}
	o := obj{{"id", "chatcmpl-fake"}, {"object", "chat.completion"}, {"created", fakeCreated}, {"model", s.model(model)},
		{"choices", []obj{{{"index", 0}, {"message", msg}, {"finish_reason", s.finishReason()}}}}}
	if u := s.usage(); u != nil {
		o = append(o, kv{"usage", u})
	}
	if fl == LlamaCpp {
		o = append(o, kv{"timings", obj{{"prompt_n", 7}}})
	}
	return mustJSON(o)
}

// shards splits s into pieces of about n bytes, never inside a character.
func shards(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		i := min(n, len(s))
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

func cut(frames [][]byte, n int) [][]byte {
	if n > 0 && n < len(frames) {
		return frames[:n]
	}
	return frames
}
