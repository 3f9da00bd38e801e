// Package ollama is the backends.Backend adapter for an Ollama server: model discovery
// with GET /api/tags and chat with POST /api/chat, streamed as NDJSON or not
// (pin-protocol.md §6.1, §6.2).
//
// What goes upstream: model, messages (the caller's JSON, verbatim), stream,
// options.temperature and options.num_predict when set (no options key otherwise), and
// tools verbatim when present. tool_choice is never sent to Ollama. Absent optionals are
// omitted, never null, so a request without tools is byte-identical to one from before
// tools existed (L1, L5).
//
// What comes back is the OpenAI-shaped backends.ChatResult: message.thinking and whole
// message.tool_calls pass through, finish_reason is "stop", and usage is
// prompt_eval_count/eval_count from the done frame, zeros when a stream ended without one
// (then ChatResult.Incomplete is set and a warning logged). Usage is never estimated.
package ollama

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/wire"
)

// backendName names Ollama in StatusErrors ("Ollama error 404 Not Found: …").
const backendName = "Ollama"

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// HTTPClient sends the requests. nil means a shared client with dial and TLS
	// handshake timeouts but no overall timeout: deadlines are per request, via ctx.
	HTTPClient *http.Client
	// Logger receives diagnostics (nil discards them). Prompt and answer text is never
	// logged; streaming details are at debug level.
	Logger *slog.Logger
}

// Client talks to one Ollama server. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
	log  *slog.Logger
}

var _ backends.Backend = (*Client)(nil)

// New returns a Client for the Ollama server at baseURL (e.g. "http://127.0.0.1:11434");
// trailing slashes are stripped. The URL is checked on first use.
func New(baseURL string, opt Options) *Client {
	return &Client{base: wire.TrimBase(baseURL), hc: wire.Client(opt.HTTPClient), log: wire.Logger(opt.Logger).With("backend", "ollama")}
}

// Models lists the names from GET /api/tags. A non-2xx answer is a *backends.StatusError.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	const op = "ollama models"
	raw, err := wire.Fetch(ctx, c.hc, wire.Call{Backend: backendName, Op: op, Method: http.MethodGet, URL: c.base + "/api/tags", Accept: "application/json"})
	if err != nil {
		return nil, err
	}
	var tags struct {
		Models *[]struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := json.Unmarshal(raw, &tags); err != nil || tags.Models == nil {
		return nil, wire.BadResponse(op, "expected {\"models\":[…]} from /api/tags; is this an Ollama server?", raw)
	}
	names := make([]string, 0, len(*tags.Models))
	for _, m := range *tags.Models {
		name := m.Name
		if name == "" {
			name = m.Model
		}
		if name != "" {
			names = append(names, name)
		}
	}
	return names, nil
}

// chatRequest is the /api/chat body. Field order is the wire order.
type chatRequest struct {
	Model    string          `json:"model"`
	Messages json.RawMessage `json:"messages"`
	Stream   bool            `json:"stream"`
	Options  *chatOptions    `json:"options,omitempty"`
	Tools    json.RawMessage `json:"tools,omitempty"`
}

type chatOptions struct {
	Temperature *float64 `json:"temperature,omitempty"`
	NumPredict  *int     `json:"num_predict,omitempty"`
}

// encode builds the /api/chat body for req.
func encode(op string, req *backends.ChatRequest, stream bool) ([]byte, error) {
	msgs, err := wire.Messages(op, req)
	if err != nil {
		return nil, err
	}
	body := chatRequest{Model: req.Model, Messages: msgs, Stream: stream}
	if req.Temperature != nil || req.MaxTokens != nil {
		body.Options = &chatOptions{Temperature: req.Temperature, NumPredict: req.MaxTokens}
	}
	if wire.Present(req.Tools) {
		body.Tools = req.Tools
	}
	b, err := wire.Encode(body)
	if err != nil {
		return nil, fmt.Errorf("%s: messages and tools must be valid JSON: %w", op, err)
	}
	return b, nil
}

func (c *Client) chatCall(op string, body []byte) wire.Call {
	return wire.Call{Backend: backendName, Op: op, Method: http.MethodPost, URL: c.base + "/api/chat", Body: body}
}

// Chat runs one non-streaming completion.
func (c *Client) Chat(ctx context.Context, req *backends.ChatRequest) (*backends.ChatResult, error) {
	const op = "ollama chat"
	body, err := encode(op, req, false)
	if err != nil {
		return nil, err
	}
	resp, start, err := wire.SendChat(ctx, c.hc, c.log, c.chatCall(op, body), req.Model, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := wire.ReadAll(ctx, op, resp.Body)
	if err != nil {
		return nil, err
	}
	var r frame
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, wire.BadResponse(op, "answer is not an Ollama chat response ("+err.Error()+")", raw)
	}
	if msg := wire.ErrorText(r.Error); msg != "" {
		return nil, fmt.Errorf("%s: Ollama reported an error: %s", op, msg)
	}
	model := cmp.Or(r.Model, req.Model)
	res := wire.Answer(backends.Message{
		Role:      cmp.Or(r.Message.Role, "assistant"),
		Content:   r.Message.Content,
		Thinking:  r.Message.Thinking,
		ToolCalls: wire.ToolCalls(r.Message.ToolCalls),
	}, "stop", usageOf(r.PromptEvalCount, r.EvalCount), model)
	c.log.Debug("chat answered", "model", model, "status", resp.StatusCode, "elapsed", time.Since(start),
		"content_bytes", len(r.Message.Content), "thinking_bytes", len(r.Message.Thinking),
		"tool_calls", len(res.Choices[0].Message.ToolCalls) > 0,
		"prompt_tokens", res.Usage.PromptTokens, "completion_tokens", res.Usage.CompletionTokens)
	thinkingOnlyHint(c.log, res)
	return res, nil
}

// ChatStream runs one streaming completion; see backends.Backend. onDelta may be nil.
func (c *Client) ChatStream(ctx context.Context, req *backends.ChatRequest, onDelta func(backends.Delta) error) (*backends.ChatResult, error) {
	const op = "ollama stream"
	body, err := encode(op, req, true)
	if err != nil {
		return nil, err
	}
	// reqCtx is cancelled as soon as we stop reading (onDelta failed, or we return), so
	// the backend stops generating.
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, start, err := wire.SendChat(reqCtx, c.hc, c.log, c.chatCall(op, body), req.Model, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := newParser(c.log, req.Model, onDelta)
	p.Start = start
	res, err := wire.ReadStream(ctx, op, cancel, resp.Body, start, p)
	if err != nil {
		return nil, err
	}
	thinkingOnlyHint(c.log, res)
	return res, nil
}

// thinkingOnlyHint logs L19 (see wire.ThinkingOnlyHint) with the completion tokens spent.
func thinkingOnlyHint(log *slog.Logger, res *backends.ChatResult) {
	wire.ThinkingOnlyHint(log, res, "completion_tokens", res.Usage.CompletionTokens)
}

func usageOf(prompt, completion int) *backends.Usage {
	return &backends.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}
