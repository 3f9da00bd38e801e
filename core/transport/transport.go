// Package transport carries PIN protocol messages between the engine and the gateway over
// either of the gateway's transports (pin-protocol.md §2): SSE (the default; a signed GET
// downlink plus signed POSTs up) or WebSocket (the compatibility path).
//
// Both are behind Conn. A Conn is authenticated when Dial returns. It owns one reader
// goroutine and either one writer goroutine (WS) or the uplink's workers (SSE: at most
// one POST in flight per request, several requests at once; see uplink.go); Send never
// blocks and never writes the socket itself. Close is idempotent and ends them all.
package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// Transport names, as in config.json's "transport".
const (
	SSE = "sse"
	WS  = "ws"
)

// Timeouts of the original daemon (§5.3).
const (
	ConnectTimeout = 15 * time.Second
	PostTimeout    = 30 * time.Second
	// MaxCoalesce is the largest merged chunk delta on the SSE uplink (§10.3).
	MaxCoalesce = 32 << 10
)

// Conn is one authenticated link to the gateway. Methods are safe for concurrent use.
type Conn interface {
	// Transport is SSE or WS.
	Transport() string
	// Recv blocks for the next downlink message. It returns an error once the link has
	// ended: io.EOF for a clean end, *RejectedError when the gateway sent ERROR.
	// JSON PING and protocol pings are answered inside the transport and not returned.
	Recv(ctx context.Context) (protocol.Message, error)
	// Register announces one node (WS: REGISTER_NODE frame; SSE: POST /stream/register).
	Register(ctx context.Context, n protocol.RegisterNode) error
	// Heartbeat renews the lease. An error means the link is gone.
	Heartbeat(ctx context.Context) error
	// AdvertiseModels re-asserts the operator's model union without an interview
	// (WS: MODEL_LIST; SSE: heartbeat POST with X-PIN-Models).
	AdvertiseModels(ctx context.Context, models []string) error
	// UpdateWallet sends the payout address; ErrUnsupported on SSE (§4.3.2, G3).
	UpdateWallet(ctx context.Context, address string) error
	// Send queues a data message (INFERENCE_CHUNK and every terminal result). It never
	// blocks; it returns ErrClosed once the link is gone, so the caller can stop work,
	// and an error wrapping ErrBacklog when too much output is already waiting for the
	// gateway (the job should stop and answer with that error, which is always taken).
	Send(m protocol.Message) error
	// Flush blocks until everything queued so far has been written (WS) or POSTed
	// (SSE), or ctx ends, or the link is gone.
	Flush(ctx context.Context) error
	// Close ends the link. Queued data not yet written is dropped.
	Close() error
}

var (
	// ErrClosed: the link is gone; nothing more can be sent.
	ErrClosed = errors.New("gateway link closed")
	// ErrUnsupported: the transport has no way to carry this message.
	ErrUnsupported = errors.New("not supported on this transport")
	// ErrAuthRejected: the gateway refused the credentials. Retrying at once is pointless.
	ErrAuthRejected = errors.New("credentials rejected by the gateway")
	// ErrSessionGone: the gateway no longer knows this session (an unknown or expired
	// stream token, 401/403 on a session POST); only a new connection helps.
	ErrSessionGone = errors.New("the gateway no longer knows this session")
)

// RejectedError is an ERROR message from the gateway (fatal for the session).
type RejectedError struct{ Message string }

func (e *RejectedError) Error() string { return "gateway error: " + e.Message }

// Is makes an ERROR that names the signature or credentials match ErrAuthRejected.
func (e *RejectedError) Is(target error) bool {
	if target != ErrAuthRejected {
		return false
	}
	m := strings.ToLower(e.Message)
	for _, w := range []string{"signature", "auth", "credential", "secret", "client_id", "unknown operator", "invalid operator"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// HandshakeError is a connect failure that says nothing about the credentials (network,
// 404, 5xx, a missing stream token). It is the only kind that falls back SSE → WS.
type HandshakeError struct{ Err error }

func (e *HandshakeError) Error() string { return e.Err.Error() }
func (e *HandshakeError) Unwrap() error { return e.Err }

// Options configures Dial.
type Options struct {
	ServerURL string // serverUrl from config (ws:// or wss://; http(s):// accepted)
	ClientID  string
	Secret    protocol.Secret
	Logger    *slog.Logger     // nil → discard
	Now       func() time.Time // signature clock; nil → time.Now
	// HTTPClient is used for SSE; nil → a fresh client per session with no overall
	// timeout (L15), sharing one connection pool for downlink and uplink (L13).
	HTTPClient *http.Client
	// UplinkPosts is how many SSE uplink POSTs (each of a different request) may be in
	// flight at once; 0 → DefaultUplinkPosts, capped at MaxUplinkPosts. Size it from the
	// jobs that can run at once (-n, node capacities).
	UplinkPosts int
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Dial connects and authenticates with the named transport.
func Dial(ctx context.Context, kind string, o Options) (Conn, error) {
	switch kind {
	case WS:
		return DialWS(ctx, o)
	default:
		return DialSSE(ctx, o)
	}
}

// HTTPBase derives the SSE base URL from serverUrl (§2.3): strip trailing "/ws"
// (repeatedly), then wss→https and ws→http.
func HTTPBase(serverURL string) string {
	s := strings.TrimRight(serverURL, "/")
	for strings.HasSuffix(s, "/ws") {
		s = strings.TrimRight(strings.TrimSuffix(s, "/ws"), "/")
	}
	switch {
	case strings.HasPrefix(s, "wss://"):
		s = "https://" + s[len("wss://"):]
	case strings.HasPrefix(s, "ws://"):
		s = "http://" + s[len("ws://"):]
	}
	return s
}

// WSURL is serverUrl as the WebSocket endpoint: used verbatim when ws(s)://; an
// http(s):// URL is mapped to ws(s)://.
func WSURL(serverURL string) string {
	switch {
	case strings.HasPrefix(serverURL, "https://"):
		return "wss://" + serverURL[len("https://"):]
	case strings.HasPrefix(serverURL, "http://"):
		return "ws://" + serverURL[len("http://"):]
	}
	return serverURL
}

// redactURL drops user info and query from a URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid url)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// outQueue is the WebSocket writer's two FIFOs: control strictly before data (L12).
// Push never blocks. Once closed, push reports ErrClosed; data past MaxQueuedTotal
// bytes waiting is refused with ErrBacklog (error answers excepted).
type outQueue struct {
	mu      sync.Mutex
	control []protocol.Message // guarded by mu
	data    []protocol.Message // guarded by mu
	closed  bool               // guarded by mu
	bytes   int                // guarded by mu: approximate size of data (msgSize), bounded by MaxQueuedTotal
	busy    int                // guarded by mu: queued plus taken but not yet written
	idle    chan struct{}      // guarded by mu: closed whenever busy is 0
	wake    chan struct{}      // cap 1: "something was pushed or closed"
}

func newOutQueue() *outQueue {
	idle := make(chan struct{})
	close(idle)
	return &outQueue{wake: make(chan struct{}, 1), idle: idle}
}

// written reports that n taken messages are out (or dropped).
func (q *outQueue) written(n int) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.busy == 0 {
		return
	}
	q.busy = max(0, q.busy-n)
	if q.busy == 0 {
		close(q.idle)
	}
}

// flush waits until busy is 0, ctx ends, or the queue closes.
func (q *outQueue) flush(ctx context.Context) error {
	return awaitIdle(ctx, func() (<-chan struct{}, bool) {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.idle, q.closed
	})
}

// awaitIdle is a writer's flush: it waits until the idle channel that state returns is
// closed, or ctx ends. state reads the writer's current idle channel and whether it was
// closed (what was queued is then lost: ErrClosed, also when the close is what woke it).
func awaitIdle(ctx context.Context, state func() (idle <-chan struct{}, closed bool)) error {
	idle, closed := state()
	if closed {
		return ErrClosed
	}
	select {
	case <-idle:
		if _, closed := state(); closed {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *outQueue) push(m protocol.Message, control bool) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if control {
		q.control = append(q.control, m)
	} else {
		size := msgSize(m)
		if !isErrorAnswer(m) && q.bytes > 0 && q.bytes+size > MaxQueuedTotal {
			q.mu.Unlock()
			return fmt.Errorf("%w (%d bytes waiting on the link, limit %d)", ErrBacklog, q.bytes, MaxQueuedTotal)
		}
		q.data = append(q.data, m)
		q.bytes += size
	}
	if q.busy == 0 {
		q.idle = make(chan struct{})
	}
	q.busy++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// takeData removes and returns every queued data message. ok is false once the queue is
// closed (whatever remained is dropped). Control messages are popped one at a time
// (popControl), so they can go out between data frames.
func (q *outQueue) takeData(dst []protocol.Message) (batch []protocol.Message, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return dst, false
	}
	dst = append(dst, q.data...)
	clear(q.data)
	q.data = q.data[:0]
	q.bytes = 0
	return dst, true
}

// popControl pops the oldest control message; nil when there is none. ok is false once
// the queue is closed.
func (q *outQueue) popControl() (m protocol.Message, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, false
	}
	if len(q.control) == 0 {
		return nil, true
	}
	m = q.control[0]
	q.control[0] = nil
	q.control = q.control[1:]
	return m, true
}

func (q *outQueue) close() {
	q.mu.Lock()
	if !q.closed && q.busy > 0 {
		close(q.idle)
	}
	q.closed = true
	q.control, q.data = nil, nil
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// inbox hands decoded downlink messages from the reader goroutine to Recv.
type inbox struct {
	ch   chan protocol.Message
	done chan struct{} // closed when the reader ends; err is then set
	err  error
}

func newInbox() *inbox {
	return &inbox{ch: make(chan protocol.Message, 64), done: make(chan struct{})}
}

// deliver hands m to Recv; false when stop fired first.
func (b *inbox) deliver(m protocol.Message, stop <-chan struct{}) bool {
	select {
	case b.ch <- m:
		return true
	case <-stop:
		return false
	}
}

func (b *inbox) finish(err error) {
	b.err = err
	close(b.done)
}

func (b *inbox) recv(ctx context.Context) (protocol.Message, error) {
	select {
	case m := <-b.ch:
		return m, nil
	default:
	}
	select {
	case m := <-b.ch:
		return m, nil
	case <-b.done:
		select { // drain what the reader delivered before it ended
		case m := <-b.ch:
			return m, nil
		default:
		}
		return nil, b.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// decodeDownlink decodes a downlink payload. A job whose fields do not parse still
// yields a message carrying its request_id (with no payload), so it can be answered (G4).
func decodeDownlink(b []byte) (protocol.Message, error) {
	m, err := protocol.Decode(b)
	if err == nil {
		return m, nil
	}
	switch m.(type) {
	case *protocol.InferenceRequest, *protocol.TTSRequest:
		var v struct {
			RequestID any `json:"request_id"`
		}
		if json.Unmarshal(b, &v) == nil {
			if id, ok := v.RequestID.(string); ok && id != "" {
				if _, isTTS := m.(*protocol.TTSRequest); isTTS {
					return &protocol.TTSRequest{RequestID: id}, nil
				}
				return &protocol.InferenceRequest{RequestID: id}, nil
			}
		}
	}
	return nil, err
}

func statusExcerpt(resp *http.Response, body []byte) string {
	b := strings.TrimSpace(string(body))
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	if b == "" {
		return resp.Status
	}
	return fmt.Sprintf("%s: %s", resp.Status, b)
}
