package pintest

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

var (
	upgrader      = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	splitUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, WriteBufferSize: 16}
)

// authTimeout bounds the wait for the first (AUTH) frame.
const authTimeout = 15 * time.Second

// serveWS is the WebSocket transport (§2.2, §3.2, §16): AUTH first, then the read loop.
func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "pintest: gateway closed")
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	up := &upgrader
	if g.opts.SplitWrites {
		up = &splitUpgrader
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		g.log.Warn("pintest: websocket upgrade failed", "err", err)
		return // Upgrade answered the HTTP error
	}
	conn.SetReadLimit(64 << 20)
	_ = conn.SetReadDeadline(time.Now().Add(authTimeout))
	mt, data, err := conn.ReadMessage()
	if err != nil {
		g.log.Warn("pintest: no AUTH frame", "err", err)
		_ = conn.Close()
		return
	}

	var op *Operator
	m, derr := protocol.Decode(data)
	auth, isAuth := m.(*protocol.Auth)
	switch {
	case mt != websocket.TextMessage || derr != nil || !isAuth:
		err = errorf("Authentication required: the first frame must be AUTH")
	default:
		op, err = g.authenticate(auth.ClientID, auth.Timestamp, auth.Signature)
	}
	g.mu.Lock()
	g.checkLeakLocked(data, headerBytes(r.Header))
	f := Frame{Transport: TransportWS, Type: msgType(data), Body: data}
	if err != nil {
		f.Err = err.Error()
		g.recordLocked(nil, f)
		g.mu.Unlock()
		g.log.Warn("pintest: auth rejected", "transport", TransportWS, "reason", err.Error())
		b := mustEncode(&protocol.Error{Message: err.Error()})
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = conn.WriteMessage(websocket.TextMessage, b)
		g.mu.Lock()
		g.seq++
		g.sent = append(g.sent, Frame{Seq: g.seq, Time: g.now(), Transport: TransportWS, Type: protocol.TypeError, Body: b})
		g.broadcastLocked()
		g.mu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "authentication failed"), time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	s := g.openSessionLocked(op, TransportWS)
	s.conn = conn
	f.Session = s.id
	g.recordLocked(op, f)
	g.mu.Unlock()
	defer g.endSession(s)
	g.log.Info("pintest: operator authenticated", "operator", op.clientID, "transport", TransportWS, "session", s.id)

	_ = conn.SetReadDeadline(time.Time{})
	conn.SetPongHandler(func(p string) error {
		g.mu.Lock()
		s.pingSent = false
		g.recordLocked(op, Frame{Transport: TransportWS, Session: s.id, Type: "ws:pong", Body: []byte(p)})
		g.mu.Unlock()
		return nil
	})
	if err := s.send(mustEncode(&protocol.AuthSuccess{OperatorID: op.clientID, Message: "Authenticated"})); err != nil {
		return
	}
	if g.opts.PingInterval > 0 {
		g.wg.Add(1)
		go g.pingLoop(s)
	}
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		g.handleWS(s, mt, data)
	}
}

func (g *Gateway) handleWS(s *session, mt int, data []byte) {
	op := s.op
	if mt != websocket.TextMessage {
		g.mu.Lock()
		g.recordLocked(op, Frame{Transport: TransportWS, Session: s.id, Type: "ws:binary", Body: data})
		g.mu.Unlock()
		return
	}
	m, err := protocol.Decode(data)
	g.mu.Lock()
	g.checkLeakLocked(data)
	f := Frame{Transport: TransportWS, Session: s.id, Body: data}
	if m != nil {
		f.Type = m.MsgType()
	} else {
		f.Type = msgType(data)
	}
	if err != nil {
		f.Err = err.Error()
	}
	g.recordLocked(op, f)
	g.mu.Unlock()
	if err != nil {
		g.log.Warn("pintest: malformed frame", "operator", op.clientID, "err", err)
		return
	}
	var reply protocol.Message
	switch m := m.(type) {
	case *protocol.RegisterNode:
		reply = g.registerNode(s, m)
		defer g.afterRegister(s, m.Alias)
	case *protocol.Heartbeat:
		g.delay(s.done)
		g.heartbeat(s)
		reply = &protocol.HeartbeatAck{}
	case *protocol.ModelList:
		g.advertise(s, protocol.TypeModelList, m.Models)
		reply = &protocol.ModelListAck{}
	case *protocol.UpdateWallet:
		g.mu.Lock()
		op.wallet = m.PayoutAddress
		g.broadcastLocked()
		g.mu.Unlock()
		reply = &protocol.UpdateWalletAck{Success: true, Message: "Payout address updated"}
	case *protocol.InferenceChunk:
		g.chunk(s, *m)
	case *protocol.InferenceResponse:
		g.terminal(s, m.RequestID, m.MsgType(), data, payloadOf(data))
	case *protocol.InferenceError:
		g.terminal(s, m.RequestID, m.MsgType(), data, payloadOf(data))
	case *protocol.TTSResponse:
		g.terminal(s, m.RequestID, m.MsgType(), data, payloadOf(data))
	case *protocol.TTSError:
		g.terminal(s, m.RequestID, m.MsgType(), data, payloadOf(data))
	case *protocol.InterviewResult:
		if grade := g.interviewResult(s, m); grade != nil {
			defer grade()
		}
	case *protocol.Pong:
		// recorded; PingJSON waits for it
	default:
		g.log.Warn("pintest: unexpected frame", "operator", op.clientID, "type", m.MsgType())
	}
	if reply != nil {
		if err := s.send(mustEncode(reply)); err != nil {
			g.log.Warn("pintest: reply not sent", "type", reply.MsgType(), "err", err)
		}
	}
}

// payloadOf applies §4.4 to a WS envelope: its "result", else the envelope without
// "type" and "request_id". Both transports' results then look the same.
func payloadOf(envelope []byte) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(envelope, &m) != nil {
		return nil
	}
	if r, ok := m["result"]; ok {
		return r
	}
	delete(m, "type")
	delete(m, "request_id")
	b, _ := json.Marshal(m)
	return b
}

// pingLoop sends a JSON PING and a protocol Ping every PingInterval and closes a socket
// whose previous protocol Ping got no Pong.
func (g *Gateway) pingLoop(s *session) {
	defer g.wg.Done()
	t := time.NewTicker(g.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		g.mu.Lock()
		missed := s.pingSent
		s.pingSent = true
		g.mu.Unlock()
		if missed {
			g.log.Warn("pintest: no pong to protocol ping, closing", "operator", s.op.clientID, "session", s.id)
			s.close(true)
			return
		}
		_ = s.send(mustEncode(&protocol.Ping{}))
		s.wmu.Lock()
		_ = s.conn.WriteControl(websocket.PingMessage, []byte("pintest"), time.Now().Add(5*time.Second))
		s.wmu.Unlock()
	}
}
