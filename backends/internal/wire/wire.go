// Package wire is the HTTP and JSON plumbing the adapters share: the default HTTP client,
// request encoding that never re-types or HTML-escapes the caller's JSON, the mapping of
// transport failures and non-2xx answers to the errors in package backends, and bounded
// one-line excerpts for error messages.
//
// It also holds what every chat call does whatever the API: the request checks and
// debug diagnostics (SendChat), the streaming bookkeeping a parser embeds (Stream: lines,
// deltas, skipped lines, end-of-stream log), the mapping of a stream's end to what
// ChatStream returns (ReadStream), and the one-choice result (Answer). What a line or an
// answer means stays in each adapter.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pin-client/pin-client/backends"
)

// ExcerptLimit bounds the backend body text kept in a StatusError (bytes).
const ExcerptLimit = 512

// errorBodyLimit bounds how much of an error body is read to find its message.
const errorBodyLimit = 16 << 10

// MaxBody bounds a non-streaming JSON answer or an audio body. A larger answer is an error
// rather than an unbounded allocation.
const MaxBody = 64 << 20

// DefaultClient is the client adapters use when none is given. It has no overall Timeout:
// a stream lasts as long as the generation, and a non-streaming answer's headers arrive
// only after the whole generation (and model load), so every deadline is per request,
// through its context. Dialing and TLS handshakes are bounded.
var DefaultClient = sync.OnceValue(func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	// A node serves up to its capacity at once; keeping that many connections idle
	// means a busy node does not dial (and TLS-handshake) per request.
	tr.MaxIdleConnsPerHost = 256
	tr.MaxIdleConns = 1024
	return &http.Client{Transport: tr}
})

// Logger returns l, or a logger that discards everything when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// TrimBase strips every trailing '/' of a base URL (pin-protocol.md §6).
func TrimBase(base string) string { return strings.TrimRight(strings.TrimSpace(base), "/") }

// Present reports whether raw holds a JSON value to send: not empty, not blank, not null.
// An absent optional is omitted upstream, never sent as null (L5).
func Present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// Encode marshals v as compact JSON without HTML escaping, so the caller's raw JSON goes
// upstream as written (only insignificant whitespace is removed).
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Call describes one request to a backend.
type Call struct {
	Backend string // "Ollama", "OpenAI", "TTS": names the backend in StatusError
	Op      string // error prefix, e.g. "ollama chat"
	Method  string
	URL     string
	Body    []byte // nil for no body; sent as application/json
	Bearer  string // optional API token; goes only into the Authorization header
	Accept  string
}

// Do sends c. A transport failure wraps backends.ErrUnreachable, a cancelled or expired
// ctx returns the context's error wrapped, and a non-2xx answer is a *backends.StatusError
// (the body is read, bounded, and closed). On success the caller owns resp.Body.
func Do(ctx context.Context, hc *http.Client, c Call) (*http.Response, error) {
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid backend URL (check the configured URI): %w", c.Op, err)
	}
	if c.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Accept != "" {
		req.Header.Set("Accept", c.Accept)
	}
	if c.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.Bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, CtxError(ctx, c.Op)
		}
		return nil, fmt.Errorf("%s: %w: %w", c.Op, backends.ErrUnreachable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, ReadStatusError(c.Backend, resp)
	}
	return resp, nil
}

// ReadStatusError builds the StatusError for a non-2xx response. Body is the backend's
// error message when the body is a JSON error object ({"error":"…"},
// {"error":{"message":"…"}}, {"detail":"…"}, {"message":"…"}), else an excerpt of the raw
// body; either way one line of at most ExcerptLimit bytes.
func ReadStatusError(backend string, resp *http.Response) *backends.StatusError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	msg := ErrorMessage(raw)
	if msg == "" {
		msg = string(raw)
	}
	status := resp.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return &backends.StatusError{
		Backend:    backend,
		StatusCode: resp.StatusCode,
		Status:     status,
		Body:       Excerpt(msg, ExcerptLimit),
	}
}

// ErrorMessage extracts the human-readable message from a JSON error body or error
// frame, or returns "" when b is not one. It accepts the shapes Ollama, OpenAI-compatible
// servers and FastAPI use: {"error":"…"}, {"error":{"message":"…"}}, {"detail":"…"} and
// {"message":"…"}.
func ErrorMessage(b []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{v.Error, v.Detail, v.Message} {
		if msg := messageOf(raw); msg != "" {
			return msg
		}
	}
	return ""
}

// messageOf returns raw as text: a string as is, {"message":…} recursively, any other
// present JSON value compactly.
func messageOf(raw json.RawMessage) string {
	if !Present(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		if m := messageOf(obj.Message); m != "" {
			return m
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return ""
}

// Excerpt returns s as one line of at most limit bytes: invalid UTF-8 is replaced, every
// run of whitespace or control characters becomes one space, and a cut is marked with "…"
// (the cut never splits a character).
func Excerpt(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > limit {
			break
		}
	}
	out := b.String()
	if len(out) <= limit {
		return out
	}
	const mark = "…"
	cut := max(limit-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + mark
}

// BadResponse returns an error wrapping backends.ErrBadResponse that says what was wrong
// and shows the start of what was received.
func BadResponse(op, what string, body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("%s: %w: %s (empty body)", op, backends.ErrBadResponse, what)
	}
	return fmt.Errorf("%s: %w: %s; body starts %q", op, backends.ErrBadResponse, what, Excerpt(string(body[:min(len(body), 256)]), 96))
}

// ReadBody reads a whole non-streaming body, failing with a clear error past MaxBody.
func ReadBody(op string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBody {
		return nil, fmt.Errorf("%s: %w: body larger than %d MiB", op, backends.ErrBadResponse, MaxBody>>20)
	}
	return b, nil
}

// ErrLost is wrapped when a stream or body read fails before its end (the backend closed
// the connection or crashed mid-answer).
var ErrLost = errors.New("connection lost mid-answer")

// ReadError classifies a failure while reading an answer's body: the caller's context
// ended (the context's error, wrapped, with its cause when that differs) or the
// connection was lost (ErrLost).
func ReadError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return CtxError(ctx, op)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrLost, err)
}

// CtxError wraps ctx.Err() (so errors.Is(err, context.Canceled) holds) and adds the
// cancel cause when the canceller gave one.
func CtxError(ctx context.Context, op string) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause != nil && cause != err {
		return fmt.Errorf("%s: %w: %w", op, err, cause)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Aborted is returned by a stream parser when the caller's onDelta returned Err.
type Aborted struct{ Err error }

func (a *Aborted) Error() string { return "aborted by caller: " + a.Err.Error() }
func (a *Aborted) Unwrap() error { return a.Err }

// Meter counts the bytes read through it and notes when the first ones arrived, for the
// streaming diagnostics (L20).
type Meter struct {
	R     io.Reader
	N     int64
	First time.Duration // time from Start to the first non-empty read; 0 if none yet
	Start time.Time
}

func (m *Meter) Read(p []byte) (int, error) {
	n, err := m.R.Read(p)
	if n > 0 && m.N == 0 {
		m.First = max(time.Since(m.Start), 1)
	}
	m.N += int64(n)
	return n, err
}

// ErrorText is the one-line text of an "error" member of a JSON answer or stream frame,
// "" when it is absent, null, false or empty.
func ErrorText(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if !Present(t) || bytes.Equal(t, []byte("false")) {
		return ""
	}
	return Excerpt(messageOf(t), ExcerptLimit)
}

// ToolCalls returns a tool_calls member unchanged, or nil when it is absent, null or an
// empty array (message.tool_calls is present only when non-empty).
func ToolCalls(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if !Present(t) {
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(t, &arr) == nil && len(arr) == 0 {
		return nil
	}
	return t
}
