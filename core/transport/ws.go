package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

// wsIdleTimeout ends a WebSocket link on which nothing at all arrived for that long: no
// frame, no protocol ping. The gateway pings every ~20 s (Uvicorn) and acks every
// heartbeat, so silence means a dead path (a laptop that slept, a NAT that forgot the
// connection) that writes alone would not notice for minutes.
var wsIdleTimeout = 90 * time.Second

// wsConn is the WebSocket transport: JSON text frames, one reader goroutine and one
// writer goroutine. The writer drains the control queue strictly before the data queue
// (L12); protocol Pings are answered with a same-payload Pong via WriteControl, which
// gorilla/websocket allows concurrently with the writer (L11).
type wsConn struct {
	ws   *websocket.Conn
	log  *slog.Logger
	in   *inbox
	q    *outQueue
	stop chan struct{} // closed by Close
	once sync.Once
	wg   sync.WaitGroup
}

// DialWS connects to serverUrl, sends AUTH and returns once AUTH_SUCCESS arrived.
func DialWS(ctx context.Context, o Options) (Conn, error) {
	log := o.logger().With("transport", WS)
	d := websocket.Dialer{HandshakeTimeout: ConnectTimeout, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, WSURL(o.ServerURL), nil)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("%w (websocket upgrade: %s)", ErrAuthRejected, resp.Status)
		}
		if resp != nil {
			err = fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return nil, &HandshakeError{fmt.Errorf("connect to %s: %w", redactURL(WSURL(o.ServerURL)), err)}
	}
	ws.SetReadLimit(maxFrame)
	stopDial := context.AfterFunc(ctx, func() { ws.Close() })
	pending, err := wsAuth(ws, o)
	if !stopDial() || err != nil {
		ws.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	c := &wsConn{ws: ws, log: log, in: newInbox(), q: newOutQueue(), stop: make(chan struct{})}
	ws.SetPingHandler(func(payload string) error {
		ws.SetReadDeadline(time.Now().Add(wsIdleTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(5*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	ws.SetCloseHandler(func(code int, text string) error {
		log.Info("gateway closed the connection", "code", code, "reason", text)
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
	c.wg.Add(2)
	go c.readLoop(pending)
	go c.writeLoop()
	return c, nil
}

// wsAuth sends AUTH and reads until AUTH_SUCCESS or ERROR, keeping anything else for
// the reader.
func wsAuth(ws *websocket.Conn, o Options) ([]protocol.Message, error) {
	ts, sig := protocol.Sign(o.ClientID, o.Secret, o.now())
	auth, _ := protocol.Encode(&protocol.Auth{ClientID: o.ClientID, Timestamp: ts, Signature: sig})
	deadline := time.Now().Add(ConnectTimeout)
	ws.SetWriteDeadline(deadline)
	if err := ws.WriteMessage(websocket.TextMessage, auth); err != nil {
		return nil, &HandshakeError{fmt.Errorf("send AUTH: %w", err)}
	}
	ws.SetWriteDeadline(time.Time{})
	ws.SetReadDeadline(deadline)
	defer ws.SetReadDeadline(time.Time{})
	var pending []protocol.Message
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return nil, &HandshakeError{fmt.Errorf("waiting for AUTH_SUCCESS: %w", err)}
		}
		if typ != websocket.TextMessage {
			continue
		}
		m, err := decodeDownlink(data)
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case *protocol.AuthSuccess:
			return pending, nil
		case *protocol.Error:
			// Bad credentials only when the ERROR says so (RejectedError.Is), as on SSE
			// where only 401/403 are; anything else reconnects on the normal backoff.
			return nil, &RejectedError{Message: m.Message}
		case *protocol.Ping:
			pong, _ := protocol.Encode(&protocol.Pong{})
			ws.SetWriteDeadline(deadline)
			_ = ws.WriteMessage(websocket.TextMessage, pong)
			ws.SetWriteDeadline(time.Time{})
		default:
			pending = append(pending, m)
		}
	}
}

func (c *wsConn) Transport() string { return WS }

func (c *wsConn) Recv(ctx context.Context) (protocol.Message, error) { return c.in.recv(ctx) }

func (c *wsConn) Send(m protocol.Message) error { return c.q.push(m, false) }

func (c *wsConn) Flush(ctx context.Context) error { return c.q.flush(ctx) }

func (c *wsConn) control(m protocol.Message) error { return c.q.push(m, true) }

func (c *wsConn) Register(_ context.Context, n protocol.RegisterNode) error {
	n.APIMode = "" // WS does not send apiMode (§4.3.3)
	return c.control(&n)
}

func (c *wsConn) Heartbeat(context.Context) error { return c.control(&protocol.Heartbeat{}) }

func (c *wsConn) AdvertiseModels(_ context.Context, models []string) error {
	return c.control(&protocol.ModelList{Models: models})
}

func (c *wsConn) UpdateWallet(_ context.Context, addr string) error {
	return c.control(&protocol.UpdateWallet{PayoutAddress: addr})
}

func (c *wsConn) Close() error {
	c.once.Do(func() {
		close(c.stop)
		c.q.close()
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.ws.Close()
	})
	c.wg.Wait()
	return nil
}

func (c *wsConn) readLoop(pending []protocol.Message) {
	defer c.wg.Done()
	for _, m := range pending {
		if !c.in.deliver(m, c.stop) {
			c.in.finish(ErrClosed)
			return
		}
	}
	for {
		c.ws.SetReadDeadline(time.Now().Add(wsIdleTimeout))
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.in.finish(c.readErr(err))
			go c.Close()
			return
		}
		if typ != websocket.TextMessage {
			continue // binary frames are ignored (§2.2)
		}
		m, err := decodeDownlink(data)
		if err != nil {
			c.log.Warn("skipping frame that does not parse", "err", err)
			continue
		}
		switch m := m.(type) {
		case *protocol.Ping:
			_ = c.control(&protocol.Pong{})
			continue
		case *protocol.Error:
			c.in.finish(&RejectedError{Message: m.Message})
			go c.Close()
			return
		}
		if !c.in.deliver(m, c.stop) {
			c.in.finish(ErrClosed)
			return
		}
	}
}

func (c *wsConn) readErr(err error) error {
	select {
	case <-c.stop:
		return ErrClosed
	default:
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("nothing from the gateway for %s (no frame, no ping): the link is dead", wsIdleTimeout)
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Errorf("gateway closed the connection (code %d %q): %w", ce.Code, ce.Text, io.EOF)
	}
	return fmt.Errorf("read: %w", err)
}

// writeLoop is the socket's only writer. Control messages go first (L12), also between
// the data frames of one batch; queued data is coalesced as on the SSE uplink, so a
// burst of tokens becomes few frames.
func (c *wsConn) writeLoop() {
	defer c.wg.Done()
	var batch []protocol.Message
	for {
		select {
		case <-c.q.wake:
		case <-c.stop:
			return
		}
		if !c.writeControl() {
			return
		}
		var ok bool
		if batch, ok = c.q.takeData(batch[:0]); !ok {
			return
		}
		taken := len(batch)
		for _, m := range coalesce(batch) {
			if !c.writeControl() || !c.write(m) {
				return
			}
		}
		clear(batch)
		c.q.written(taken)
	}
}

// writeControl writes every queued control message; false when the link is done.
func (c *wsConn) writeControl() bool {
	for {
		m, ok := c.q.popControl()
		if !ok {
			return false
		}
		if m == nil {
			return true
		}
		w := c.write(m)
		c.q.written(1)
		if !w {
			return false
		}
	}
}

// write sends one message as a text frame; false (and the link closing) on failure.
func (c *wsConn) write(m protocol.Message) bool {
	b, err := protocol.Encode(m)
	if err != nil {
		c.log.Error("cannot encode message", "type", m.MsgType(), "err", err)
		return true
	}
	c.ws.SetWriteDeadline(time.Now().Add(PostTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.log.Warn("write failed; closing the link", "err", err)
		go c.Close()
		return false
	}
	return true
}
