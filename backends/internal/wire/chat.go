package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/pin-client/pin-client/backends"
)

// Client returns hc, or DefaultClient() when hc is nil.
func Client(hc *http.Client) *http.Client {
	if hc == nil {
		return DefaultClient()
	}
	return hc
}

// Messages checks req before any network use and returns its messages with the
// surrounding whitespace trimmed. A nil request, or messages that are not a JSON array, is
// an error naming op.
func Messages(op string, req *backends.ChatRequest) (json.RawMessage, error) {
	if req == nil {
		return nil, fmt.Errorf("%s: nil request", op)
	}
	msgs := bytes.TrimSpace(req.Messages)
	if len(msgs) == 0 || msgs[0] != '[' {
		return nil, fmt.Errorf("%s: messages must be a JSON array of chat messages", op)
	}
	return msgs, nil
}

// ReadAll reads a whole non-streaming body (bounded by MaxBody, see ReadBody); a failure
// is classified by ReadError.
func ReadAll(ctx context.Context, op string, r io.Reader) ([]byte, error) {
	b, err := ReadBody(op, r)
	if errors.Is(err, backends.ErrBadResponse) { // too large: the answer, not the link, is wrong
		return nil, err
	}
	if err != nil {
		return nil, ReadError(ctx, op, err)
	}
	return b, nil
}

// Fetch sends c and returns its whole answer (errors as Do and ReadAll). The body is
// closed.
func Fetch(ctx context.Context, hc *http.Client, c Call) ([]byte, error) {
	resp, err := Do(ctx, hc, c)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return ReadAll(ctx, c.Op, resp.Body)
}

// SendChat sends the chat call c for model with the diagnostics every adapter logs at
// debug level: "chat request sent", then "chat request failed" or, for a stream, "stream
// opened". start is when the request was sent. Errors are Do's; on success the caller
// owns resp.Body.
func SendChat(ctx context.Context, hc *http.Client, log *slog.Logger, c Call, model string, stream bool) (resp *http.Response, start time.Time, err error) {
	start = time.Now()
	log.Debug("chat request sent", "model", model, "stream", stream, "request_bytes", len(c.Body))
	resp, err = Do(ctx, hc, c)
	if err != nil {
		log.Debug("chat request failed", "model", model, "elapsed", time.Since(start), "err", err)
		return nil, start, err
	}
	if stream {
		log.Debug("stream opened", "model", model, "status", resp.StatusCode, "content_type", resp.Header.Get("Content-Type"), "elapsed", time.Since(start))
	}
	return resp, start, nil
}

// StreamParser is an adapter's stream parser, as ReadStream drives it.
type StreamParser interface {
	// Parse reads r to its end: nil at a clean end of input, *Aborted when onDelta
	// failed, *ServerError for an error the backend reported in the stream, or the read
	// error.
	Parse(r io.Reader) error
	// End logs the end-of-stream diagnostics (L20); m metered the body, err is Parse's.
	End(m *Meter, err error)
	// Result is the answer collected by a Parse that returned nil.
	Result() *backends.ChatResult
}

// ReadStream reads a streaming answer's body with p and returns what ChatStream returns.
// The body is metered from start (when the request was sent). When Parse fails, cancel
// (the request's) is called at once so the backend stops generating, and the error is
// mapped for the caller: the callback's error wrapped after "aborted", a ServerError's
// text, or the read error as ReadError classifies it against ctx (the caller's context).
// A clean end after ctx ended is the context's error: a cancelled request never looks like
// a finished answer.
func ReadStream(ctx context.Context, op string, cancel context.CancelFunc, body io.Reader, start time.Time, p StreamParser) (*backends.ChatResult, error) {
	meter := &Meter{R: body, Start: start}
	perr := p.Parse(meter)
	p.End(meter, perr)
	if perr != nil {
		cancel()
		if ab, ok := perr.(*Aborted); ok {
			return nil, fmt.Errorf("%s: aborted: %w", op, ab.Err)
		}
		if se, ok := perr.(*ServerError); ok {
			return nil, fmt.Errorf("%s: %s", op, se)
		}
		return nil, ReadError(ctx, op, perr)
	}
	if ctx.Err() != nil {
		return nil, CtxError(ctx, op)
	}
	return p.Result(), nil
}

// Answer is the one-choice result the adapters return.
func Answer(m backends.Message, finish string, usage *backends.Usage, model string) *backends.ChatResult {
	return &backends.ChatResult{
		Choices: []backends.Choice{{Message: m, FinishReason: finish}},
		Usage:   usage,
		Model:   model,
	}
}

// ThinkingOnlyHint logs L19: an answer that is all reasoning is valid, but usually means
// the token budget ran out while the model was still thinking. attrs (the adapter's own)
// follow the model and the reasoning's size.
func ThinkingOnlyHint(log *slog.Logger, res *backends.ChatResult, attrs ...any) {
	m := res.Choices[0].Message
	if m.Content == "" && m.Thinking != "" && len(m.ToolCalls) == 0 {
		log.Warn("answer has reasoning but no content; the model probably ran out of tokens while thinking, raise max_tokens",
			append([]any{"model", res.Model, "thinking_bytes", len(m.Thinking)}, attrs...)...)
	}
}
