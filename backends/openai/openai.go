// Package openai is the backends.Backend adapter for OpenAI-compatible servers (llama.cpp
// llama-server, vLLM, LM Studio, LocalAI, Ollama's /v1, …): model discovery with
// GET /v1/models, chat with POST /v1/chat/completions (SSE streaming or not), and
// text-to-speech with POST /v1/audio/speech (backends.Speaker) — pin-protocol.md §6.1,
// §6.3–§6.6.
//
// What goes upstream: model, messages (verbatim), stream, stream_options.include_usage
// when streaming (L21), top-level temperature and max_tokens when set, tools verbatim when
// present, and tool_choice when present (when streaming, only together with tools).
// Absent optionals are omitted, never null (L5). Options.APIKey, when set, is sent as a
// bearer token and never logged.
//
// What comes back is the OpenAI-shaped backends.ChatResult: reasoning_content (or its
// alias reasoning) becomes message.thinking, tool calls are kept — streamed fragments are
// assembled by index with argument shards concatenated (§6.4) — content null is valid,
// finish_reason is the last one seen (else "stop") and usage the last one seen (else
// null: usage is never estimated).
package openai

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/wire"
)

const (
	backendName = "OpenAI" // names the backend in StatusErrors
	ttsName     = "TTS"
)

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// HTTPClient sends the requests. nil means a shared client with dial and TLS
	// handshake timeouts but no overall timeout: deadlines are per request, via ctx.
	HTTPClient *http.Client
	// Logger receives diagnostics (nil discards them). Prompt and answer text is never
	// logged; streaming details are at debug level.
	Logger *slog.Logger
	// APIKey is an optional bearer token (e.g. LM Studio's or vLLM's --api-key). It is
	// sent in the Authorization header only and never logged.
	APIKey string
}

// Client talks to one OpenAI-compatible server. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
	log  *slog.Logger
	key  string
}

var (
	_ backends.Backend = (*Client)(nil)
	_ backends.Speaker = (*Client)(nil)
)

// New returns a Client for the server at baseURL (e.g. "http://127.0.0.1:8080", without
// /v1); trailing slashes are stripped. The URL is checked on first use.
func New(baseURL string, opt Options) *Client {
	return &Client{base: wire.TrimBase(baseURL), hc: wire.Client(opt.HTTPClient), log: wire.Logger(opt.Logger).With("backend", "openai"), key: opt.APIKey}
}

func (c *Client) call(op, method, path string, body []byte) wire.Call {
	return wire.Call{Backend: backendName, Op: op, Method: method, URL: c.base + path, Body: body, Bearer: c.key}
}

// Models lists the ids from GET /v1/models. A non-2xx answer is a *backends.StatusError.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	const op = "openai models"
	call := c.call(op, http.MethodGet, "/v1/models", nil)
	call.Accept = "application/json"
	raw, err := wire.Fetch(ctx, c.hc, call)
	if err != nil {
		return nil, err
	}
	var list struct {
		Data *[]struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &list); err != nil || list.Data == nil {
		return nil, wire.BadResponse(op, "expected {\"data\":[…]} from /v1/models; is this an OpenAI-compatible server?", raw)
	}
	ids := make([]string, 0, len(*list.Data))
	for _, m := range *list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// chatRequest is the /v1/chat/completions body. Field order is the wire order.
type chatRequest struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	Tools         json.RawMessage `json:"tools,omitempty"`
	ToolChoice    json.RawMessage `json:"tool_choice,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

func encode(op string, req *backends.ChatRequest, stream bool) ([]byte, error) {
	msgs, err := wire.Messages(op, req)
	if err != nil {
		return nil, err
	}
	body := chatRequest{Model: req.Model, Messages: msgs, Stream: stream, Temperature: req.Temperature, MaxTokens: req.MaxTokens}
	hasTools := wire.Present(req.Tools)
	if hasTools {
		body.Tools = req.Tools
	}
	if wire.Present(req.ToolChoice) && (hasTools || !stream) {
		body.ToolChoice = req.ToolChoice
	}
	if stream {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, err := wire.Encode(body)
	if err != nil {
		return nil, fmt.Errorf("%s: messages, tools and tool_choice must be valid JSON: %w", op, err)
	}
	return b, nil
}

// completion is the non-streaming answer. Unknown fields are ignored.
type completion struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role             string          `json:"role"`
			Content          json.RawMessage `json:"content"`
			ReasoningContent json.RawMessage `json:"reasoning_content"`
			Reasoning        json.RawMessage `json:"reasoning"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *backends.Usage `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Chat runs one non-streaming completion. Reasoning and tool calls are kept, and
// content null (normal beside tool calls) is valid (G5).
func (c *Client) Chat(ctx context.Context, req *backends.ChatRequest) (*backends.ChatResult, error) {
	const op = "openai chat"
	body, err := encode(op, req, false)
	if err != nil {
		return nil, err
	}
	call := c.call(op, http.MethodPost, "/v1/chat/completions", body)
	call.Accept = "application/json"
	resp, start, err := wire.SendChat(ctx, c.hc, c.log, call, req.Model, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := wire.ReadAll(ctx, op, resp.Body)
	if err != nil {
		return nil, err
	}
	res, err := decodeCompletion(op, raw, req.Model)
	if err != nil {
		return nil, err
	}
	m := res.Choices[0].Message
	c.log.Debug("chat answered", "model", res.Model, "status", resp.StatusCode, "elapsed", time.Since(start),
		"content_bytes", len(m.Content), "thinking_bytes", len(m.Thinking), "tool_calls", len(m.ToolCalls) > 0,
		"finish_reason", res.Choices[0].FinishReason, "usage", res.Usage != nil)
	thinkingOnlyHint(c.log, res)
	return res, nil
}

// ChatStream runs one streaming completion; see backends.Backend. onDelta may be nil.
func (c *Client) ChatStream(ctx context.Context, req *backends.ChatRequest, onDelta func(backends.Delta) error) (*backends.ChatResult, error) {
	const op = "openai stream"
	body, err := encode(op, req, true)
	if err != nil {
		return nil, err
	}
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	call := c.call(op, http.MethodPost, "/v1/chat/completions", body)
	call.Accept = "text/event-stream"
	resp, start, err := wire.SendChat(reqCtx, c.hc, c.log, call, req.Model, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if isJSON(resp.Header.Get("Content-Type")) {
		// The server ignored stream:true and answered one completion: deliver it as
		// deltas rather than parse it as an (empty) event stream.
		return c.unstreamed(ctx, op, resp, req.Model, onDelta)
	}
	p := newParser(c.log, req.Model, onDelta)
	p.Start = start
	res, err := wire.ReadStream(ctx, op, cancel, resp.Body, start, p)
	if err != nil {
		return nil, err
	}
	thinkingOnlyHint(c.log, res)
	return res, nil
}

// unstreamed handles a JSON completion answered to a streaming request.
func (c *Client) unstreamed(ctx context.Context, op string, resp *http.Response, model string, onDelta func(backends.Delta) error) (*backends.ChatResult, error) {
	c.log.Debug("stream request answered without streaming", "model", model, "content_type", resp.Header.Get("Content-Type"))
	raw, err := wire.ReadAll(ctx, op, resp.Body)
	if err != nil {
		return nil, err
	}
	res, err := decodeCompletion(op, raw, model)
	if err != nil {
		return nil, err
	}
	m := res.Choices[0].Message
	for _, d := range []backends.Delta{{Kind: backends.KindThinking, Text: m.Thinking}, {Kind: backends.KindContent, Text: m.Content}} {
		if d.Text == "" || onDelta == nil {
			continue
		}
		if err := onDelta(d); err != nil {
			return nil, fmt.Errorf("%s: aborted: %w", op, err)
		}
	}
	thinkingOnlyHint(c.log, res)
	return res, nil
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// Speech synthesises req.Input with POST /v1/audio/speech (§6.6). The audio comes back
// as received, with the server's Content-Type (default application/octet-stream). A
// non-2xx answer is a *backends.StatusError naming "TTS"; an empty body is an error.
func (c *Client) Speech(ctx context.Context, req *backends.SpeechRequest) (*backends.Speech, error) {
	const op = "tts speech"
	if req == nil {
		return nil, fmt.Errorf("%s: nil request", op)
	}
	body, err := wire.Encode(req)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	start := time.Now()
	c.log.Debug("speech request sent", "model", req.Model, "voice", req.Voice, "format", req.ResponseFormat, "input_bytes", len(req.Input))
	call := c.call(op, http.MethodPost, "/v1/audio/speech", body)
	call.Backend = ttsName
	resp, err := wire.Do(ctx, c.hc, call)
	if err != nil {
		c.log.Debug("speech request failed", "model", req.Model, "elapsed", time.Since(start), "err", err)
		return nil, err
	}
	defer resp.Body.Close()
	audio, err := wire.ReadAll(ctx, op, resp.Body)
	if err != nil {
		return nil, err
	}
	if len(audio) == 0 {
		return nil, fmt.Errorf("%s: %w: TTS server returned an empty audio body (status %s)", op, backends.ErrBadResponse, resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.log.Debug("speech answered", "model", req.Model, "status", resp.StatusCode, "bytes", len(audio), "content_type", ct, "elapsed", time.Since(start))
	return &backends.Speech{Audio: audio, ContentType: ct}, nil
}

// decodeCompletion turns a non-streaming answer into the result. Reasoning and tool calls
// are kept, and content null (normal beside tool calls) is valid (G5).
func decodeCompletion(op string, raw []byte, reqModel string) (*backends.ChatResult, error) {
	var r completion
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, wire.BadResponse(op, "answer is not a chat completion ("+err.Error()+")", raw)
	}
	if msg := wire.ErrorText(r.Error); msg != "" {
		return nil, fmt.Errorf("%s: server reported an error: %s", op, msg)
	}
	if len(r.Choices) == 0 {
		return nil, wire.BadResponse(op, "chat completion has no choices", raw)
	}
	ch := r.Choices[0]
	content, ok := contentText(ch.Message.Content)
	if !ok {
		return nil, wire.BadResponse(op, "message.content is neither a string, null nor text parts", raw)
	}
	thinking := jsonString(ch.Message.ReasoningContent)
	if thinking == "" {
		thinking = jsonString(ch.Message.Reasoning)
	}
	finish := "stop"
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		finish = *ch.FinishReason
	}
	return wire.Answer(backends.Message{
		Role:      cmp.Or(ch.Message.Role, "assistant"),
		Content:   content,
		Thinking:  thinking,
		ToolCalls: wire.ToolCalls(ch.Message.ToolCalls),
	}, finish, fixUsage(r.Usage), cmp.Or(r.Model, reqModel)), nil
}

// thinkingOnlyHint logs L19 (see wire.ThinkingOnlyHint) with the finish reason.
func thinkingOnlyHint(log *slog.Logger, res *backends.ChatResult) {
	wire.ThinkingOnlyHint(log, res, "finish_reason", res.Choices[0].FinishReason)
}

// fixUsage fills total_tokens when a server left it out (the sum of two reported counts
// is not an estimate).
func fixUsage(u *backends.Usage) *backends.Usage {
	if u != nil && u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

// contentText reads message.content: a string, null (→ ""), or an array of text parts
// (joined). ok is false for anything else.
func contentText(raw json.RawMessage) (string, bool) {
	if !wire.Present(raw) {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "" || p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), true
}

// jsonString returns raw as a string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
