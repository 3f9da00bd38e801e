// Package pintest is a fake PIN gateway for tests and for local development (`pin-clientd
// gateway`, the demo): in-process, httptest-style, speaking
// both operator transports exactly as the real gateway does (pin-protocol.md §2.3, §2.4,
// §3, §16) — the WebSocket transport at /api/v1/pin/ws and the SSE transport under
// /api/v1/pin/stream/.
//
// Start one per test; it listens on 127.0.0.1 and closes itself when the test ends:
//
//	gw := pintest.New(t, pintest.Options{})          // op_test / pin_sk_test_fake
//	cfg.ServerURL = gw.URL()                          // ws://127.0.0.1:port/api/v1/pin/ws
//	go engine.Run(ctx)
//	nodes, err := gw.WaitNodes(ctx, 3)               // REGISTER_NODE (WS) or POST register (SSE)
//	job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: msgs, Stream: true})
//	res, err := job.Wait(ctx)                        // the terminal answer
//	job.Text(pintest.KindContent)                    // streamed deltas, arrival order
//	gw.Terminals(job.ID)                             // exactly 1, or the engine double-answered
//
// What it checks, like the real gateway: the AUTH frame or the SSE headers are signed
// (§3.1, ±300 s by default, against Options.Now); every SSE POST carries the session's
// X-PIN-Stream-Token; JSON POSTs are sent as application/json; a result has the "payload,
// not envelope" shape (§4.4). Failures answer as the real gateway would: WS ERROR then
// close, SSE 401/403/4xx with a one-line body. If the raw API secret ever arrives in a
// frame, a POST or a header, the test that created the gateway fails.
//
// What it records: every frame and POST received (Frames) and every frame sent (Sent), the
// registered nodes with their server ids (node_…), heartbeats and liveness (operator
// offline 60 s after its last heartbeat, by Options.Now), every model advertisement
// (REGISTER_NODE, MODEL_LIST, X-PIN-Models), chunks per request in arrival order (index
// gaps ignored, §2.4), and the number of terminal answers per request_id.
//
// Faults to inject: DropLink (abrupt close of the current connection or stream), DropAll
// (every connection, as a dying gateway process; EndedSessions says who ended each),
// FailInterview (INTERVIEW_FAILED, then close), Send of any message including
// *protocol.Unknown types, SendRaw (bytes verbatim), SetResultAckWithoutID,
// Options.SplitWrites (each downlink frame in several flushed pieces, cutting a UTF-8
// sequence), SetAcceptDelay (slow POST and heartbeat acceptance), FailHeartbeats,
// SetRejectAuth.
//
// Consumers: GET /v1/models and POST /v1/chat/completions (OpenAI format, streaming or
// not) are routed to an online operator node that advertised the model and has a free
// capacity slot, which makes the gateway a local PIN network (Listen, Serve; loopback only).
//
// Gateway embeds *Operator for the operator of Options.ClientID, so gw.Infer, gw.Nodes and
// friends act on it; Options.MoreOperators adds others (OperatorFor).
//
// All methods are safe for concurrent use. Waits block on state changes, never poll.
// Close (run by t.Cleanup) ends every connection and waits for every goroutine.
package pintest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// Paths the gateway serves (§2.4).
const (
	WSPath        = "/api/v1/pin/ws"
	StreamPrefix  = "/api/v1/pin/stream/"
	ConnectPath   = StreamPrefix + "connect"
	RegisterPath  = StreamPrefix + "register"
	HeartbeatPath = StreamPrefix + "heartbeat"
	ChunkPath     = StreamPrefix + "chunk"
	ResultPath    = StreamPrefix + "result"
)

// Transport names, as in config.json's "transport".
const (
	TransportWS  = "ws"
	TransportSSE = "sse"
)

// Chunk kinds (INFERENCE_CHUNK.kind).
const (
	KindContent  = "content"
	KindThinking = "thinking"
)

// Default credentials.
const (
	DefaultClientID = "op_test"
	DefaultSecret   = "pin_sk_test_fake"
)

// Errors callers may branch on.
var (
	ErrNotConnected   = errors.New("pintest: operator not connected")
	ErrWrongTransport = errors.New("pintest: not possible on this transport")
	ErrClosed         = errors.New("pintest: gateway closed")
)

// Credentials are one operator's clientId and apiSecret.
type Credentials struct {
	ClientID string
	Secret   string
}

// Options configure a Gateway. The zero value is usable.
type Options struct {
	// ClientID and Secret are the main operator's credentials; defaults DefaultClientID
	// and DefaultSecret. Only the secret's hash is used to verify (like the real gateway).
	ClientID string
	Secret   string
	// MoreOperators are further operators the gateway accepts.
	MoreOperators []Credentials
	// Logger receives the gateway's log; nil discards. The secret is never logged.
	Logger *slog.Logger
	// Now is the gateway's clock for the signature window, liveness and record times;
	// nil means time.Now.
	Now func() time.Time
	// SignatureWindow is the allowed |now − timestamp| (default 300 s, §3.4).
	SignatureWindow time.Duration
	// OfflineAfter: an operator whose last heartbeat is older is offline (default 60 s).
	OfflineAfter time.Duration
	// KeepaliveInterval is the SSE ": keepalive" cadence (default 15 s; negative = never).
	KeepaliveInterval time.Duration
	// PingInterval, if positive, makes the gateway send a JSON PING and a protocol Ping
	// on every WebSocket at that cadence, and close a socket whose previous protocol Ping
	// got no Pong by the next tick (as Uvicorn does). Zero: only PingJSON/PingProtocol.
	PingInterval time.Duration
	// SplitWrites writes every downlink frame in several pieces: each SSE frame in
	// separately flushed writes cut inside a UTF-8 sequence when there is one, each
	// WebSocket message as 16-byte continuation frames.
	SplitWrites bool
	// AcceptDelay delays the acceptance of every SSE POST and every WS HEARTBEAT
	// (slow gateway). SetAcceptDelay changes it at run time.
	AcceptDelay time.Duration
	// AuthSuccessCamelCase sends the SSE AUTH_SUCCESS in the camelCase shape the first
	// SSE client expected ({operatorId, leaseUntil, streamToken}, §3.4).
	AuthSuccessCamelCase bool
	// InterviewOnRegister, if set, is called after each REGISTER_NODE; a non-nil
	// request is sent to the operator right after the REGISTER_NODE_ACK, as the real
	// gateway interviews registered nodes (§4.3.3). Empty InterviewID gets one.
	InterviewOnRegister func(n Node) *protocol.InterviewRequest
	// Grade answers an INTERVIEW_RESULT; nil uses DefaultGrade; a nil return sends nothing.
	Grade func(req *protocol.InterviewRequest, res *protocol.InterviewResult) protocol.Message
	// MaxFrames bounds each record list (Frames, Sent); past it the oldest half is
	// dropped. 0 keeps everything (tests); Listen defaults it to 10000.
	MaxFrames int

	// ConsumerKey, if set, is the Bearer token consumers must send to /v1/*.
	ConsumerKey string
	// QueueTimeout bounds how long a consumer request waits for a node with a free
	// capacity slot before a 503 (default 60 s).
	QueueTimeout time.Duration
}

// Gateway is a running fake gateway. The embedded *Operator is the operator of
// Options.ClientID.
type Gateway struct {
	*Operator

	opts   Options
	log    *slog.Logger
	now    func() time.Time
	secret [][]byte // raw secrets, only to detect a client leaking one; never printed

	srv     *httptest.Server // set by New
	stop    func()           // set by Listen: stops its http.Server
	baseURL string

	wg sync.WaitGroup // WS goroutines (hijacked connections are not tracked by net/http)

	mu sync.Mutex // guards everything below and all Operator, session, Job and Interview state
	// changed is closed and replaced on every state change (see waitFor).
	changed    chan struct{}
	closedCh   chan struct{} // closed by Close
	closed     bool
	ops        map[string]*Operator
	opOrder    []*Operator
	tokens     map[string]*session
	frames     []Frame // received, all operators and unauthenticated
	sent       []Frame
	seq        int
	sessions   int
	leaked     bool
	acceptDly  time.Duration
	rejectAuth string
	ackNoID    bool
	hbStatus   int
	ended      []SessionRecord // sessions that ended, oldest first

	consumer consumerState // OpenAI-compatible consumer side (consumer.go)
}

// TB is the part of testing.TB that New uses; a *testing.T or *testing.B is one. It is
// an interface of its own so that this package does not import "testing": binaries
// (`pin-clientd gateway`, `pin-clientd demo`, `pin-client --demo`) use the gateway through
// Listen and NewGateway.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// New starts a gateway on 127.0.0.1 for the duration of the test.
func New(t TB, opts Options) *Gateway {
	t.Helper()
	g := NewGateway(opts)
	g.srv = httptest.NewServer(g)
	g.baseURL = g.srv.URL
	t.Cleanup(func() {
		g.Close()
		if g.SecretLeaked() {
			t.Errorf("pintest: a client sent the raw API secret to the gateway")
		}
	})
	return g
}

// NewGateway makes a gateway that is not listening: serve it with any http.Server (it
// is an http.Handler) and call SetBaseURL so URL and SSEBase know the address. Close it.
func NewGateway(opts Options) *Gateway {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.Secret == "" {
		opts.Secret = DefaultSecret
	}
	if opts.SignatureWindow <= 0 {
		opts.SignatureWindow = 300 * time.Second
	}
	if opts.OfflineAfter <= 0 {
		opts.OfflineAfter = 60 * time.Second
	}
	if opts.KeepaliveInterval == 0 {
		opts.KeepaliveInterval = 15 * time.Second
	}
	g := &Gateway{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		changed:   make(chan struct{}),
		closedCh:  make(chan struct{}),
		ops:       map[string]*Operator{},
		tokens:    map[string]*session{},
		acceptDly: opts.AcceptDelay,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	creds := append([]Credentials{{opts.ClientID, opts.Secret}}, opts.MoreOperators...)
	for _, c := range creds {
		if c.ClientID == "" || g.ops[c.ClientID] != nil {
			continue
		}
		s := protocol.NewSecret(c.Secret)
		op := &Operator{g: g, clientID: c.ClientID, secretHash: protocol.SecretHash(s),
			nodes: map[string]*Node{}, jobs: map[string]*Job{}, terminals: map[string]int{},
			interviews: map[string]*Interview{}}
		g.ops[c.ClientID] = op
		g.opOrder = append(g.opOrder, op)
		if c.Secret != "" {
			g.secret = append(g.secret, []byte(c.Secret))
		}
	}
	g.Operator = g.ops[opts.ClientID]
	g.consumer.init()
	return g
}

// SetBaseURL tells a gateway made by NewGateway its http://host:port address.
func (g *Gateway) SetBaseURL(u string) {
	g.mu.Lock()
	g.baseURL = strings.TrimRight(u, "/")
	g.mu.Unlock()
}

// HTTPURL is http://127.0.0.1:port.
func (g *Gateway) HTTPURL() string { g.mu.Lock(); defer g.mu.Unlock(); return g.baseURL }

// URL is the serverUrl to give a client: ws://127.0.0.1:port/api/v1/pin/ws. The SSE base
// the client derives from it (§2.3) is SSEBase.
func (g *Gateway) URL() string { return "ws" + strings.TrimPrefix(g.HTTPURL(), "http") + WSPath }

// SSEBase is http://127.0.0.1:port/api/v1/pin.
func (g *Gateway) SSEBase() string { return g.HTTPURL() + strings.TrimSuffix(WSPath, "/ws") }

// Operators lists every operator the gateway accepts, the main one first.
func (g *Gateway) Operators() []*Operator {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Operator(nil), g.opOrder...)
}

// OperatorFor returns the operator with this clientId, or nil.
func (g *Gateway) OperatorFor(clientID string) *Operator {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ops[clientID]
}

// Close ends every session, stops the server and waits for all goroutines. Idempotent.
func (g *Gateway) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	close(g.closedCh)
	var all []*session
	for _, op := range g.opOrder {
		all = append(all, op.live...)
	}
	g.broadcastLocked()
	g.mu.Unlock()
	for _, s := range all {
		s.close(false)
	}
	if g.srv != nil {
		g.srv.Close()
	}
	if g.stop != nil {
		g.stop()
	}
	g.wg.Wait()
}

// SecretLeaked reports whether any received frame, body or header contained a raw secret.
func (g *Gateway) SecretLeaked() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.leaked }

// Frames returns every frame and POST received so far, all operators, in arrival order.
func (g *Gateway) Frames() []Frame {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Frame(nil), g.frames...)
}

// Sent returns every frame the gateway sent, all operators, in order.
func (g *Gateway) Sent() []Frame {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Frame(nil), g.sent...)
}

// SetAcceptDelay delays each later SSE POST and WS HEARTBEAT by d before it is handled.
func (g *Gateway) SetAcceptDelay(d time.Duration) { g.mu.Lock(); g.acceptDly = d; g.mu.Unlock() }

// SetRejectAuth makes every new AUTH / connect fail with this message (WS ERROR, SSE
// 401) even with good credentials; "" restores normal checking.
func (g *Gateway) SetRejectAuth(message string) { g.mu.Lock(); g.rejectAuth = message; g.mu.Unlock() }

// SetResultAckWithoutID makes later RESULT_ACKs omit request_id (L6).
func (g *Gateway) SetResultAckWithoutID(on bool) { g.mu.Lock(); g.ackNoID = on; g.mu.Unlock() }

// FailHeartbeats makes later SSE heartbeat POSTs answer this HTTP status (0 restores 200).
func (g *Gateway) FailHeartbeats(status int) { g.mu.Lock(); g.hbStatus = status; g.mu.Unlock() }

// ServeHTTP serves both operator transports and the consumer API.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == WSPath:
		g.serveWS(w, r)
	case p == ConnectPath:
		g.serveConnect(w, r)
	case p == RegisterPath || p == HeartbeatPath || p == ChunkPath || p == ResultPath:
		g.servePost(w, r)
	case strings.HasPrefix(p, "/v1/"):
		g.serveConsumer(w, r)
	default:
		http.Error(w, "pintest: no such endpoint "+p, http.StatusNotFound)
	}
}

// Wait blocks until cond returns true, re-evaluating it after every change of gateway
// state (frames, sessions, results). cond may call any Gateway/Operator/Job method.
func (g *Gateway) Wait(ctx context.Context, cond func() bool) error {
	for {
		g.mu.Lock()
		ch, closed := g.changed, g.closed
		g.mu.Unlock()
		if cond() {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("pintest: wait: %w", ctx.Err())
		}
	}
}

func (g *Gateway) broadcastLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// authenticate checks a signed request (§3.1) the way the gateway does: only the stored
// secret hash is used. The error text is what the client is told.
func (g *Gateway) authenticate(clientID, ts, sig string) (*Operator, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rejectAuth != "" {
		return nil, errors.New(g.rejectAuth)
	}
	//lint:file-ignore ST1005 these are the real gateway's error texts, capitalised as it sends them
	if g.closed {
		return nil, errors.New("Gateway shutting down")
	}
	op := g.ops[clientID]
	if op == nil {
		return nil, errors.New("Unknown operator")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errors.New("Invalid timestamp")
	}
	if d := g.now().Sub(time.Unix(n, 0)); d > g.opts.SignatureWindow || d < -g.opts.SignatureWindow {
		return nil, errors.New("Timestamp expired")
	}
	want := protocol.SignatureFromHash(clientID, ts, op.secretHash)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return nil, errors.New("Invalid signature")
	}
	return op, nil
}

// checkLeakLocked flags any raw secret in b.
func (g *Gateway) checkLeakLocked(bs ...[]byte) {
	for _, b := range bs {
		for _, s := range g.secret {
			if bytes.Contains(b, s) {
				g.leaked = true
			}
		}
	}
}

func headerBytes(h http.Header) []byte {
	var b bytes.Buffer
	for k, vs := range h {
		b.WriteString(k)
		for _, v := range vs {
			b.WriteString(v)
		}
	}
	return b.Bytes()
}

// delay waits the accept delay, or until stop is closed.
func (g *Gateway) delay(stop <-chan struct{}) {
	g.mu.Lock()
	d := g.acceptDly
	g.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	}
}

// randID returns prefix + n random bytes as base64url (22 chars for 16 bytes).
func randID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// nodeID looks like production ids: node_2342e639-2a4.
func nodeID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return "node_" + h[:8] + "-" + h[8:11]
}

// Frame is one frame or POST the gateway received, or one frame it sent.
type Frame struct {
	Seq       int       // global order of all records (received and sent)
	Time      time.Time // by Options.Now
	Transport string    // "ws" or "sse"
	Session   int       // session number (1, 2, … per gateway); 0 before authentication
	ClientID  string    // the authenticated operator, "" if none
	// Path is the HTTP path of an SSE request ("" for WS frames).
	Path string
	// Type is the frame's "type"; for SSE requests the equivalent: CONNECT, REGISTER_NODE,
	// HEARTBEAT, MODEL_LIST (heartbeat with X-PIN-Models), INFERENCE_CHUNK, and for
	// results the classified INFERENCE_RESPONSE, INFERENCE_ERROR, TTS_RESPONSE, TTS_ERROR,
	// INTERVIEW_RESULT (RESULT when it matches no job). WS control frames: "ws:pong",
	// binary frames "ws:binary"; a frame that is not JSON: "".
	Type string
	// Body is the frame or request body as received (for "ws:pong", the Pong payload).
	Body []byte
	// Models is the parsed X-PIN-Models header.
	Models []string
	// Status is the HTTP status the gateway answered an SSE request with.
	Status int
	// Err says why the gateway rejected or could not parse it ("" when accepted).
	Err string
}

// recordLocked appends a received frame.
func (g *Gateway) recordLocked(op *Operator, f Frame) int {
	g.seq++
	f.Seq = g.seq
	if f.Time.IsZero() {
		f.Time = g.now()
	}
	if op != nil {
		f.ClientID = op.clientID
		op.frames = trim(append(op.frames, f), g.opts.MaxFrames)
	}
	g.frames = trim(append(g.frames, f), g.opts.MaxFrames)
	g.broadcastLocked()
	return f.Seq
}

// trim keeps a record list at most max long (0 = unbounded), dropping the oldest.
func trim(fs []Frame, max int) []Frame {
	if max <= 0 || len(fs) <= max {
		return fs
	}
	return append(fs[:0:0], fs[len(fs)-max/2:]...)
}

func (g *Gateway) recordSentLocked(s *session, typ string, body []byte) {
	g.seq++
	f := Frame{Seq: g.seq, Time: g.now(), Transport: s.transport, Session: s.id, ClientID: s.op.clientID, Type: typ, Body: body}
	g.sent = trim(append(g.sent, f), g.opts.MaxFrames)
	s.op.sent = trim(append(s.op.sent, f), g.opts.MaxFrames)
	g.broadcastLocked()
}

// msgType reads a frame's "type" cheaply: Encode puts it first; anything else is parsed
// for that one field. "" when the frame is not a JSON object with a type.
func msgType(b []byte) string {
	const pre = `{"type":"`
	if bytes.HasPrefix(b, []byte(pre)) {
		if i := bytes.IndexByte(b[len(pre):], '"'); i >= 0 && bytes.IndexByte(b[len(pre):len(pre)+i], '\\') < 0 {
			return string(b[len(pre) : len(pre)+i])
		}
	}
	var env struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(b, &env) != nil {
		return ""
	}
	return env.Type
}

// httpError answers a one-line plain-text error.
func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}
