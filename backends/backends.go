// Package backends is the contract between the relay engine and an operator's local LLM
// server. It is a leaf: standard library only. Adapters live in backends/ollama and
// backends/openai; fakes and the conformance suite in backends/backendtest.
//
// Every type here serialises the way the PIN gateway expects (pin-protocol.md §4.3.7):
// optional fields are absent, never null, except ChatResult.Usage, which is null when an
// OpenAI-compatible backend reported none (usage is never estimated).
package backends

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// API modes, as written in config.json's apiMode.
const (
	ModeOllama = "ollama"
	ModeOpenAI = "openai"
)

// Backend is one local LLM server. Implementations are safe for concurrent use.
type Backend interface {
	// Models lists the model names the server offers (Ollama /api/tags names, OpenAI
	// /v1/models ids).
	Models(ctx context.Context) ([]string, error)
	// Chat runs one non-streaming completion.
	Chat(ctx context.Context, req *ChatRequest) (*ChatResult, error)
	// ChatStream runs one streaming completion. onDelta is called synchronously, in
	// order, once per non-empty delta; a thinking delta of a line comes before that
	// line's content. If onDelta returns an error, generation is aborted (the backend
	// request is cancelled) and ChatStream returns that error wrapped. The returned
	// result carries the concatenation of all deltas.
	ChatStream(ctx context.Context, req *ChatRequest, onDelta func(Delta) error) (*ChatResult, error)
}

// Speaker is an OpenAI-compatible text-to-speech server (POST {ttsUri}/v1/audio/speech).
type Speaker interface {
	Speech(ctx context.Context, req *SpeechRequest) (*Speech, error)
}

// ChatRequest is what the gateway asked for. Messages, Tools and ToolChoice are the
// caller's JSON, forwarded verbatim; nil means absent and is never sent as null.
type ChatRequest struct {
	Model       string
	Messages    json.RawMessage // a JSON array, never re-typed
	Temperature *float64
	MaxTokens   *int
	Tools       json.RawMessage
	ToolChoice  json.RawMessage // sent to OpenAI-compatible backends only
}

// DeltaKind tells reasoning text from answer text on the wire (INFERENCE_CHUNK.kind).
type DeltaKind string

const (
	KindContent  DeltaKind = "content"
	KindThinking DeltaKind = "thinking"
)

// Delta is one streamed piece of an answer.
type Delta struct {
	Kind DeltaKind
	Text string
}

// ChatResult is an OpenAI chat-completion-shaped answer, exactly the keys the gateway
// bills from: choices, usage, model.
type ChatResult struct {
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage"` // null when the backend reported none; never estimated
	Model   string   `json:"model"`

	// Incomplete is set when a stream ended before the backend said it was done
	// (Ollama without a done frame). It is not sent to the gateway.
	Incomplete bool `json:"-"`
}

// Choice is one entry of ChatResult.Choices (the adapters always return exactly one).
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
}

// Message is the assistant's answer. Thinking and ToolCalls are absent when empty.
type Message struct {
	Role      string          `json:"role"`
	Content   string          `json:"content"`
	Thinking  string          `json:"thinking,omitempty"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

// Usage is the token count the gateway bills.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// SpeechRequest is a TTS job. Speed nil means absent upstream.
type SpeechRequest struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice"`
	ResponseFormat string   `json:"response_format"`
	Speed          *float64 `json:"speed,omitempty"`
}

// Speech is synthesized audio, binary as received.
type Speech struct {
	Audio       []byte
	ContentType string // the backend's Content-Type, default application/octet-stream
}

// Sentinel errors callers branch on (errors.Is).
var (
	// ErrUnreachable: the server could not be reached at all (connection refused, DNS).
	ErrUnreachable = errors.New("backend unreachable")
	// ErrBadResponse: the server answered something that is not the API we expected.
	ErrBadResponse = errors.New("bad backend response")
)

// StatusError is a non-2xx answer from a backend. Body is a bounded excerpt.
type StatusError struct {
	Backend    string // "Ollama", "OpenAI", "TTS"
	StatusCode int
	Status     string // e.g. "404 Not Found"
	Body       string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%s error %s", e.Backend, e.Status)
	}
	return fmt.Sprintf("%s error %s: %s", e.Backend, e.Status, e.Body)
}
