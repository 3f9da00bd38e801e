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
	"bytes"
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
	hc := opt.HTTPClient
	if hc == nil {
		hc = wire.DefaultClient()
	}
	return &Client{base: wire.TrimBase(baseURL), hc: hc, log: wire.Logger(opt.Logger).With("backend", "ollama")}
}

// Models lists the names from GET /api/tags. A non-2xx answer is a *backends.StatusError.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	const op = "ollama models"
	resp, err := wire.Do(ctx, c.hc, wire.Call{Backend: backendName, Op: op, Method: http.MethodGet, URL: c.base + "/api/tags", Accept: "application/json"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := wire.ReadBody(op, resp.Body)
	if err != nil {
		return nil, wire.ReadError(ctx, op, err)
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
	if req == nil {
		return nil, fmt.Errorf("%s: nil request", op)
	}
	msgs := bytes.TrimSpace(req.Messages)
	if len(msgs) == 0 || msgs[0] != '[' {
		return nil, fmt.Errorf("%s: messages must be a JSON array of chat messages", op)
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
	start := time.Now()
	c.log.Debug("chat request sent", "model", req.Model, "stream", false, "request_bytes", len(body))
	resp, err := wire.Do(ctx, c.hc, c.chatCall(op, body))
	if err != nil {
		c.log.Debug("chat request failed", "model", req.Model, "elapsed", time.Since(start), "err", err)
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := wire.ReadBody(op, resp.Body)
	if err != nil {
		return nil, wire.ReadError(ctx, op, err)
	}
	var r frame
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, wire.BadResponse(op, "answer is not an Ollama chat response ("+err.Error()+")", raw)
	}
	if msg := wire.ErrorText(r.Error); msg != "" {
		return nil, fmt.Errorf("%s: Ollama reported an error: %s", op, msg)
	}
	model := r.Model
	if model == "" {
		model = req.Model
	}
	role := r.Message.Role
	if role == "" {
		role = "assistant"
	}
	res := &backends.ChatResult{
		Choices: []backends.Choice{{
			Message: backends.Message{
				Role:      role,
				Content:   r.Message.Content,
				Thinking:  r.Message.Thinking,
				ToolCalls: wire.ToolCalls(r.Message.ToolCalls),
			},
			FinishReason: "stop",
		}},
		Usage: usageOf(r.PromptEvalCount, r.EvalCount),
		Model: model,
	}
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
	start := time.Now()
	c.log.Debug("chat request sent", "model", req.Model, "stream", true, "request_bytes", len(body))
	resp, err := wire.Do(reqCtx, c.hc, c.chatCall(op, body))
	if err != nil {
		c.log.Debug("chat request failed", "model", req.Model, "elapsed", time.Since(start), "err", err)
		return nil, err
	}
	defer resp.Body.Close()
	c.log.Debug("stream opened", "model", req.Model, "status", resp.StatusCode, "content_type", resp.Header.Get("Content-Type"), "elapsed", time.Since(start))

	meter := &wire.Meter{R: resp.Body, Start: start}
	p := newParser(c.log, req.Model, onDelta)
	p.Start = start
	perr := p.run(meter)
	p.logEnd(meter, perr)
	if perr != nil {
		cancel()
		if ab, ok := perr.(*wire.Aborted); ok {
			return nil, fmt.Errorf("%s: aborted: %w", op, ab.Err)
		}
		if se, ok := perr.(*wire.ServerError); ok {
			return nil, fmt.Errorf("%s: Ollama reported an error mid-stream: %s", op, se.Msg)
		}
		return nil, wire.ReadError(ctx, op, perr)
	}
	if ctx.Err() != nil { // a cancelled request never looks like a finished answer
		return nil, wire.CtxError(ctx, op)
	}
	res := p.result()
	thinkingOnlyHint(c.log, res)
	return res, nil
}

// thinkingOnlyHint logs L19: an answer that is all reasoning is valid, but usually means
// the token budget ran out while the model was still thinking.
func thinkingOnlyHint(log *slog.Logger, res *backends.ChatResult) {
	m := res.Choices[0].Message
	if m.Content == "" && m.Thinking != "" && len(m.ToolCalls) == 0 {
		log.Warn("answer has reasoning but no content; the model probably ran out of tokens while thinking, raise max_tokens",
			"model", res.Model, "thinking_bytes", len(m.Thinking), "completion_tokens", res.Usage.CompletionTokens)
	}
}

func usageOf(prompt, completion int) *backends.Usage {
	return &backends.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}
