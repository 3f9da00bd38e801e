package transport

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// maxFrame bounds one downlink SSE frame (a job with a long conversation can be large).
const maxFrame = 64 << 20

// sseConn is the SSE transport: one signed GET downlink read by one reader goroutine,
// and the uplink (uplink.go): one FIFO per request, POSTs of different requests in
// parallel, chunk coalescing (§10.3). Register, Heartbeat and AdvertiseModels POST
// directly from the caller, so a busy uplink never delays the lease renewal (the
// production eviction incident of §10.3).
type sseConn struct {
	o      Options
	log    *slog.Logger
	base   string
	hc     *http.Client
	token  string
	linkCx context.Context // cancelled by Close; parent of every request
	cancel context.CancelFunc

	in   *inbox
	up   *uplink
	once sync.Once
	wg   sync.WaitGroup // the reader

	secretHash string     // hex(sha256(secret)): the signature's key, never logged
	sigMu      sync.Mutex // guards sigUnix, sigTS, sig
	sigUnix    int64      // the second sigTS and sig are for
	sigTS, sig []string   // header values of that second (timestamps are in seconds)

	// Header values shared by every request (never modified), so a POST does not
	// allocate them.
	hClientID, hToken []string
}

var hJSON = []string{"application/json"}

// sseIdleTimeout ends an SSE link whose downlink carried nothing at all for that long:
// no event, no keep-alive comment (the gateway sends one every 15 s). Same rule as WS
// (wsIdleTimeout): a silently dropped GET otherwise leaves the node "online" with
// heartbeats succeeding on other connections and no job ever arriving.
var sseIdleTimeout = 90 * time.Second

// NewHTTPClient is the per-session SSE client: connect and TLS timeouts only, no overall
// timeout (a 60 s total timeout once killed healthy streams, L15). HTTP/2 is used when
// the gateway offers it over TLS (ALPN), multiplexing every POST on one connection;
// otherwise HTTP/1.1 keeps up to posts+4 idle connections, one per uplink POST in
// flight plus the downlink, heartbeat and register POSTs, so no POST pays a new
// connection's handshake.
func NewHTTPClient(posts int) *http.Client {
	if posts <= 0 {
		posts = DefaultUplinkPosts
	}
	return &http.Client{Transport: newHTTPTransport(posts)}
}

func newHTTPTransport(posts int) *http.Transport {
	d := &net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   ConnectTimeout,
		ForceAttemptHTTP2:     true, // a custom DialContext would otherwise disable HTTP/2
		MaxIdleConns:          min(posts, MaxUplinkPosts) + 4,
		MaxIdleConnsPerHost:   min(posts, MaxUplinkPosts) + 4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// No "Accept-Encoding: gzip": a compressed event stream can sit in a proxy's
		// compressor buffer, and the POST answers are a few bytes.
		DisableCompression: true,
		// HTTP/2 carries everything on one connection: ping it when nothing arrived for
		// 30 s (the gateway's keep-alives come every 15 s) and drop it if the ping goes
		// unanswered, so POSTs do not queue on a dead connection.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
}

// DialSSE opens the downlink (GET {base}/stream/connect) and returns once the gateway
// answered 2xx with a stream token.
func DialSSE(ctx context.Context, o Options) (Conn, error) {
	c := &sseConn{o: o, log: o.logger().With("transport", SSE), base: HTTPBase(o.ServerURL), hc: o.HTTPClient,
		secretHash: protocol.SecretHash(o.Secret), hClientID: []string{o.ClientID}}
	if c.hc == nil {
		c.hc = NewHTTPClient(o.UplinkPosts)
	}
	c.linkCx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	// The dial is bounded by ctx and by the connect timeout; the stream after it is not.
	stopDial := context.AfterFunc(ctx, c.cancel)
	timer := time.AfterFunc(ConnectTimeout, c.cancel)
	resp, err := c.connect()
	timer.Stop()
	stopDial()
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.in = newInbox()
	c.up = newUplink(c.linkCx, o.UplinkPosts, c.log, func(ctx context.Context, path string, body []byte) error {
		return c.post(ctx, path, body, nil)
	})
	c.wg.Add(1)
	go c.readLoop(resp.Body)
	return c, nil
}

func (c *sseConn) connect() (*http.Response, error) {
	req, err := http.NewRequestWithContext(c.linkCx, http.MethodGet, c.base+"/stream/connect", nil)
	if err != nil {
		return nil, fmt.Errorf("serverUrl %q: %w", redactURL(c.o.ServerURL), err)
	}
	req.Header.Set("Accept", "text/event-stream")
	c.sign(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &HandshakeError{fmt.Errorf("connect to %s: %w", redactURL(c.base), err)}
	}
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return nil, fmt.Errorf("%w (%s)", ErrAuthRejected, statusExcerpt(resp, body))
		}
		return nil, &HandshakeError{fmt.Errorf("connect to %s: %s", redactURL(c.base), statusExcerpt(resp, body))}
	}
	c.token = resp.Header.Get("X-PIN-Stream-Token")
	c.hToken = []string{c.token}
	if c.token == "" {
		resp.Body.Close()
		return nil, &HandshakeError{errors.New("gateway answered without an X-PIN-Stream-Token header")}
	}
	tok := c.token
	if len(tok) > 8 {
		tok = tok[:8]
	}
	c.log.Debug("stream connected", "token_prefix", tok)
	return resp, nil
}

// sign adds the §3 headers. Timestamps have one-second resolution, so the signature is
// computed once per second and shared by that second's requests.
func (c *sseConn) sign(req *http.Request) {
	now := c.o.now().Unix()
	c.sigMu.Lock()
	if c.sigTS == nil || now != c.sigUnix {
		ts := strconv.FormatInt(now, 10)
		c.sigUnix, c.sigTS, c.sig = now, []string{ts}, []string{protocol.SignatureFromHash(c.o.ClientID, ts, c.secretHash)}
	}
	tsv, sigv := c.sigTS, c.sig
	c.sigMu.Unlock()
	// canonical keys assigned directly: Header.Set would allocate to canonicalize
	req.Header["X-Pin-Client-Id"] = c.hClientID
	req.Header["X-Pin-Timestamp"] = tsv
	req.Header["X-Pin-Signature"] = sigv
}

func (c *sseConn) Transport() string { return SSE }

func (c *sseConn) Recv(ctx context.Context) (protocol.Message, error) { return c.in.recv(ctx) }

func (c *sseConn) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.up.close()
	})
	c.wg.Wait()
	return nil
}

func (c *sseConn) Send(m protocol.Message) error { return c.up.push(m) }

func (c *sseConn) Flush(ctx context.Context) error { return c.up.flush(ctx) }

func (c *sseConn) Register(ctx context.Context, n protocol.RegisterNode) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return c.post(ctx, "/stream/register", body, nil)
}

func (c *sseConn) Heartbeat(ctx context.Context) error {
	if err := c.post(ctx, "/stream/heartbeat", []byte("{}"), nil); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

func (c *sseConn) AdvertiseModels(ctx context.Context, models []string) error {
	names := make([]string, 0, len(models))
	for _, m := range models {
		if strings.ContainsAny(m, ",\r\n") { // the header is comma-joined (G12)
			c.log.Warn("model name cannot be advertised over SSE: it contains a comma or newline", "model", m)
			continue
		}
		names = append(names, m)
	}
	if len(names) == 0 && len(models) > 0 {
		return nil // nothing advertisable; an empty list on purpose is sent (a withdrawal)
	}
	h := http.Header{"X-PIN-Models": {strings.Join(names, ",")}}
	if err := c.post(ctx, "/stream/heartbeat", nil, h); err != nil {
		return fmt.Errorf("advertise models: %w", err)
	}
	return nil
}

func (c *sseConn) UpdateWallet(context.Context, string) error { return ErrUnsupported }

// post sends one signed uplink POST with its own 30 s deadline. A nil body sends no
// body and no Content-Type (the models re-assertion).
func (c *sseConn) post(ctx context.Context, path string, body []byte, h http.Header) error {
	fromLink := ctx == c.linkCx // the uplink's POSTs: already ended by the link's end
	ctx, cancel := context.WithTimeout(ctx, PostTimeout)
	defer cancel()
	if !fromLink {
		stop := context.AfterFunc(c.linkCx, cancel)
		defer stop()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, rd)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header["Content-Type"] = hJSON
	}
	req.Header["X-Pin-Stream-Token"] = c.hToken
	c.sign(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		if c.linkCx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return &statusError{path: path, code: resp.StatusCode, text: statusExcerpt(resp, b), gone: sessionGone(resp.StatusCode, b)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// sessionGone reports whether a session POST's answer says the gateway no longer knows
// the session: 401/403/410, or a 404 that names the stream token.
func sessionGone(status int, body []byte) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusGone:
		return true
	case http.StatusNotFound:
		return strings.Contains(strings.ToLower(string(body)), "token")
	}
	return false
}

// readLoop parses the downlink until it ends. Frames are split at "\n\n" on bytes, so
// a multibyte character split across reads is never corrupted (G8).
func (c *sseConn) readLoop(body io.ReadCloser) {
	defer c.wg.Done()
	defer body.Close()
	// Liveness: any bytes at all (an event or a keep-alive comment) re-arm the timer;
	// when it fires the body is closed, which ends the blocked Read.
	var silent atomic.Bool
	idle := time.AfterFunc(sseIdleTimeout, func() {
		silent.Store(true)
		body.Close()
	})
	defer idle.Stop()
	fr := newFrameReader(readerFunc(func(p []byte) (int, error) {
		n, err := body.Read(p)
		if n > 0 {
			idle.Reset(sseIdleTimeout)
		}
		return n, err
	}), maxFrame)
	var err error
	for {
		var frame []byte
		if frame, err = fr.Next(); err != nil {
			break
		}
		payload := framePayload(frame)
		if payload == nil {
			continue
		}
		m, err := decodeDownlink(payload)
		if err != nil {
			c.log.Warn("skipping downlink event that does not parse", "err", err)
			continue
		}
		if e, ok := m.(*protocol.Error); ok {
			c.in.finish(&RejectedError{Message: e.Message})
			go c.Close()
			return
		}
		if _, ok := m.(*protocol.Ping); ok { // SSE: ignored (§5.2)
			continue
		}
		if !c.in.deliver(m, c.linkCx.Done()) {
			c.in.finish(ErrClosed)
			return
		}
	}
	if err == io.EOF {
		err = nil
	}
	switch {
	case silent.Load():
		err = fmt.Errorf("nothing from the gateway for %s (no event, no keep-alive): the link is dead", sseIdleTimeout)
	case c.linkCx.Err() != nil:
		err = ErrClosed
	case err == nil:
		err = io.EOF
	default:
		err = fmt.Errorf("downlink: %w", err)
	}
	c.in.finish(err)
}

// readerFunc adapts a function to io.Reader.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// coalesce merges each request's consecutive INFERENCE_CHUNKs of the same kind into
// one, keeping the first index, up to MaxCoalesce bytes of delta (§10.3). On the SSE
// uplink a batch is one request's messages; on WS it is the link's, and chunks of other
// requests in between do not stop a merge, since the gateway orders chunks per request.
// A kind change or any other message of the same request does, so each request's own
// sequence (thinking → content → result) is kept exactly, and requests never blend. It
// reuses batch's storage and never modifies queued messages.
func coalesce(batch []protocol.Message) []protocol.Message {
	out := batch[:0]
	var open map[string]*protocol.InferenceChunk // request → its last chunk in out, a copy owned by out
	for _, m := range batch {
		ch, ok := m.(*protocol.InferenceChunk)
		if !ok {
			if open != nil {
				delete(open, requestOf(m))
			}
			out = append(out, m)
			continue
		}
		if last := open[ch.RequestID]; last != nil && last.Kind == ch.Kind &&
			len(last.Delta)+len(ch.Delta) <= MaxCoalesce {
			last.Delta += ch.Delta
			continue
		}
		cp := *ch
		if open == nil {
			open = make(map[string]*protocol.InferenceChunk)
		}
		open[ch.RequestID] = &cp
		out = append(out, &cp)
	}
	return out
}

// requestOf is the request (or interview) an uplink message belongs to.
func requestOf(m protocol.Message) string {
	switch m := m.(type) {
	case *protocol.InferenceChunk:
		return m.RequestID
	case *protocol.InferenceResponse:
		return m.RequestID
	case *protocol.InferenceError:
		return m.RequestID
	case *protocol.TTSResponse:
		return m.RequestID
	case *protocol.TTSError:
		return m.RequestID
	case *protocol.InterviewResult:
		return m.InterviewID
	}
	return ""
}

type resultBody struct {
	RequestID string `json:"request_id"`
	Result    any    `json:"result"`
}

type errorPayload struct {
	Error string `json:"error"`
}

// uplinkBody maps an envelope to its SSE endpoint and body: "the payload, not the
// envelope" (§4.4, L14).
func uplinkBody(m protocol.Message) (path string, body []byte, err error) {
	var v any
	switch m := m.(type) {
	case *protocol.InferenceChunk:
		if m.Kind == "" {
			cp := *m
			cp.Kind = "content"
			m = &cp
		}
		b, err := json.Marshal(m)
		return "/stream/chunk", b, err
	case *protocol.InferenceResponse:
		v = resultBody{m.RequestID, m.Result}
	case *protocol.InferenceError:
		v = resultBody{m.RequestID, errorPayload{m.Error}}
	case *protocol.TTSResponse:
		v = resultBody{m.RequestID, m.Result}
	case *protocol.TTSError:
		v = resultBody{m.RequestID, errorPayload{m.Error}}
	case *protocol.InterviewResult:
		v = resultBody{"", m}
	default:
		return "", nil, fmt.Errorf("unhandled SSE uplink type %s", m.MsgType())
	}
	body, err = json.Marshal(v)
	return "/stream/result", body, err
}
