package pintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

// Operator is one operator account at the gateway: its sessions, nodes, jobs and records.
// Jobs are sent on its current session, the most recent authenticated one still open.
type Operator struct {
	g          *Gateway
	clientID   string
	secretHash string

	// Guarded by g.mu.
	live       []*session // open authenticated sessions, oldest first
	sessions   int        // authenticated sessions so far
	nodes      map[string]*Node
	nodeOrder  []string
	jobs       map[string]*Job
	terminals  map[string]int
	interviews map[string]*Interview
	adverts    []Advert
	lastHB     time.Time
	heartbeats int
	wallet     string
	frames     []Frame
	sent       []Frame
	usage      Usage
}

// Node is a node as the gateway knows it after REGISTER_NODE.
type Node struct {
	ID                     string // server id, node_…, stable across re-registrations
	Alias                  string
	Models                 []string
	Capacity               int
	Region                 string
	PricePerThousandTokens float64
	InterviewModel         string
	APIMode                string // SSE register body only; "" on WS
	Transport              string // transport of the latest registration
	Registrations          int    // how many REGISTER_NODEs named this alias
}

// Advert is one model advertisement: a REGISTER_NODE, a MODEL_LIST or an SSE heartbeat
// carrying X-PIN-Models.
type Advert struct {
	Time    time.Time
	Session int
	Source  string // "REGISTER_NODE", "MODEL_LIST" or "X-PIN-Models"
	Alias   string // REGISTER_NODE only
	Models  []string
}

// session is one authenticated connection (WS) or stream (SSE).
type session struct {
	g           *Gateway
	op          *Operator
	id          int
	transport   string
	connectedAt time.Time
	done        chan struct{}
	once        sync.Once
	abrupt      bool      // set once, before done closes
	endedAt     time.Time // guarded by g.mu; zero while open
	endedBy     string    // guarded by g.mu: EndedByGateway or EndedByClient

	// Guarded by g.mu.
	registered map[string]bool // aliases registered on this session
	list       []string        // last operator-wide list (MODEL_LIST / X-PIN-Models)
	hasList    bool
	pingSent   bool // a protocol Ping is awaiting its Pong (PingInterval)

	// WS
	conn *websocket.Conn
	wmu  sync.Mutex // one writer at a time

	// SSE
	token string
	out   chan []byte // whole frames for the stream writer
}

// close ends the session once. abrupt drops the TCP connection without a goodbye
// (WS: no Close frame; SSE: the chunked stream is cut); otherwise the WS gets a Close
// frame and the SSE stream ends cleanly after the frames already queued.
func (s *session) close(abrupt bool) {
	s.once.Do(func() {
		s.abrupt = abrupt
		close(s.done)
		if s.conn != nil {
			if !abrupt {
				s.wmu.Lock()
				_ = s.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				s.wmu.Unlock()
			}
			_ = s.conn.Close()
		}
	})
}

// send delivers one encoded message on the session and records it.
func (s *session) send(b []byte) error {
	select {
	case <-s.done:
		return ErrNotConnected
	default:
	}
	typ := msgType(b)
	if s.conn != nil {
		if err := s.writeWS(b); err != nil {
			return fmt.Errorf("pintest: send %s: %w", typ, err)
		}
	} else {
		if err := s.enqueue(sseFrame(b)); err != nil {
			return err
		}
	}
	s.g.mu.Lock()
	s.g.recordSentLocked(s, typ, b)
	s.g.mu.Unlock()
	return nil
}

func (s *session) enqueue(frame []byte) error {
	select {
	case s.out <- frame:
		return nil
	case <-s.done:
		return ErrNotConnected
	}
}

func (s *session) writeWS(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if !s.g.opts.SplitWrites {
		return s.conn.WriteMessage(websocket.TextMessage, b)
	}
	w, err := s.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Close()
}

// ---- session lifecycle (called by the transports) ----

func (g *Gateway) openSessionLocked(op *Operator, transport string) *session {
	g.sessions++
	op.sessions++
	s := &session{g: g, op: op, id: g.sessions, transport: transport, connectedAt: g.now(),
		done: make(chan struct{}), registered: map[string]bool{}}
	op.live = append(op.live, s)
	g.broadcastLocked()
	return s
}

func (g *Gateway) endSession(s *session) {
	// If done is already closed, the gateway ended the session (DropLink, CloseLink,
	// DropAll, FailInterview, a missing Pong, Close); otherwise the client went away.
	by := EndedByClient
	select {
	case <-s.done:
		by = EndedByGateway
	default:
	}
	s.close(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	s.endedAt, s.endedBy = g.now(), by
	s.op.live = slices.DeleteFunc(s.op.live, func(x *session) bool { return x == s })
	rec := SessionRecord{ID: s.id, ClientID: s.op.clientID, Transport: s.transport, Start: s.connectedAt,
		End: s.endedAt, EndedBy: by}
	for _, j := range s.op.jobs {
		if j.sess == s && j.result == nil {
			j.releaseLocked() // the job is lost with its session (§11)
			rec.Unanswered++
		}
	}
	g.ended = append(g.ended, rec)
	if g.opts.MaxFrames > 0 && len(g.ended) > g.opts.MaxFrames {
		g.ended = append(g.ended[:0:0], g.ended[len(g.ended)-g.opts.MaxFrames/2:]...)
	}
	if s.token != "" {
		delete(g.tokens, s.token)
	}
	g.broadcastLocked()
	g.log.Info("pintest: session ended", "operator", s.op.clientID, "transport", s.transport, "session", s.id)
}

func (op *Operator) currentLocked() *session {
	if n := len(op.live); n > 0 {
		return op.live[n-1]
	}
	return nil
}

func (op *Operator) current() (*session, error) {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	if s := op.currentLocked(); s != nil {
		return s, nil
	}
	if op.g.closed {
		return nil, ErrClosed
	}
	return nil, fmt.Errorf("%w: %s", ErrNotConnected, op.clientID)
}

// ---- protocol handling shared by both transports ----

func (g *Gateway) registerNode(s *session, rn *protocol.RegisterNode) *protocol.RegisterNodeAck {
	g.mu.Lock()
	op := s.op
	n := op.nodes[rn.Alias]
	created := n == nil
	if created {
		n = &Node{ID: nodeID(), Alias: rn.Alias}
		op.nodes[rn.Alias] = n
		op.nodeOrder = append(op.nodeOrder, rn.Alias)
	}
	n.Models = append([]string{}, rn.Models...)
	n.Capacity, n.Region, n.PricePerThousandTokens = rn.Capacity, rn.Region, rn.PricePerThousandTokens
	n.InterviewModel, n.APIMode, n.Transport = rn.InterviewModel, rn.APIMode, s.transport
	n.Registrations++
	s.registered[rn.Alias] = true
	op.adverts = append(op.adverts, Advert{Time: g.now(), Session: s.id, Source: "REGISTER_NODE", Alias: rn.Alias, Models: n.Models})
	node := n.clone()
	g.broadcastLocked()
	g.mu.Unlock()

	msg := "Node updated"
	if created {
		msg = "Node registered successfully"
	}
	g.log.Info("pintest: node registered", "operator", op.clientID, "alias", rn.Alias, "node_id", node.ID, "models", len(node.Models), "created", created)
	ack := &protocol.RegisterNodeAck{NodeID: node.ID, Alias: node.Alias, Models: node.Models, Created: created, Message: msg}
	return ack
}

// afterRegister sends the configured interview for a node, if any.
func (g *Gateway) afterRegister(s *session, alias string) {
	if g.opts.InterviewOnRegister == nil {
		return
	}
	g.mu.Lock()
	n := s.op.nodes[alias].clone()
	g.mu.Unlock()
	req := g.opts.InterviewOnRegister(n)
	if req == nil {
		return
	}
	if _, err := s.op.startInterviewOn(s, *req); err != nil {
		g.log.Warn("pintest: interview not sent", "err", err)
	}
}

func (g *Gateway) advertise(s *session, source string, models []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s.list, s.hasList = append([]string{}, models...), true
	s.op.adverts = append(s.op.adverts, Advert{Time: g.now(), Session: s.id, Source: source, Models: s.list})
	g.broadcastLocked()
}

func (g *Gateway) heartbeat(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s.op.lastHB = g.now()
	s.op.heartbeats++
	g.broadcastLocked()
}

func (g *Gateway) chunk(s *session, c protocol.InferenceChunk) {
	if c.Kind == "" {
		c.Kind = KindContent
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	j := s.op.jobs[c.RequestID]
	if j == nil {
		return
	}
	if j.result != nil {
		j.late++
	}
	j.chunks = append(j.chunks, Chunk{InferenceChunk: c, Time: g.now(), Transport: s.transport})
	j.pokeLocked()
	g.broadcastLocked()
}

// terminal records a terminal answer. typ is the WS type or "" (SSE, classified here);
// p is the result payload (§4.4). It returns the classified type.
func (g *Gateway) terminal(s *session, requestID, typ string, body, p json.RawMessage) string {
	var probe struct {
		Error    *string         `json:"error"`
		Choices  json.RawMessage `json:"choices"`
		AudioB64 *string         `json:"audio_b64"`
	}
	_ = json.Unmarshal(p, &probe)
	failed := probe.Error != nil && probe.Choices == nil && probe.AudioB64 == nil
	g.mu.Lock()
	defer g.mu.Unlock()
	op := s.op
	op.terminals[requestID]++
	j := op.jobs[requestID]
	if typ == "" {
		switch {
		case j == nil:
			typ = "RESULT"
		case j.Kind == JobTTS && failed:
			typ = protocol.TypeTTSError
		case j.Kind == JobTTS:
			typ = protocol.TypeTTSResponse
		case failed:
			typ = protocol.TypeInferenceError
		default:
			typ = protocol.TypeInferenceResponse
		}
	}
	if j != nil && j.result == nil {
		r := &Result{RequestID: requestID, Type: typ, Transport: s.transport, Time: g.now(),
			Body: append(json.RawMessage(nil), body...), Payload: append(json.RawMessage(nil), p...)}
		if failed {
			r.Err = *probe.Error
			if r.Err == "" {
				r.Err = "(empty error)"
			}
		}
		j.result = r
		close(j.done)
		j.pokeLocked()
		j.releaseLocked()
		g.accountLocked(op, j, r)
	}
	g.broadcastLocked()
	return typ
}

// interviewResult records an INTERVIEW_RESULT and returns the grading step (send the
// Options.Grade reply), which the caller runs after any RESULT_ACK; nil for a duplicate.
func (g *Gateway) interviewResult(s *session, r *protocol.InterviewResult) (grade func()) {
	g.mu.Lock()
	op := s.op
	op.terminals[r.InterviewID]++
	iv := op.interviews[r.InterviewID]
	if iv == nil {
		iv = &Interview{Request: protocol.InterviewRequest{InterviewID: r.InterviewID, Model: r.Model}, done: make(chan struct{}), g: g}
		op.interviews[r.InterviewID] = iv
	}
	first := iv.result == nil
	if first {
		iv.result = r
		close(iv.done)
	}
	req := iv.Request
	g.broadcastLocked()
	g.mu.Unlock()
	if !first {
		return nil
	}
	return func() {
		gr := g.opts.Grade
		if gr == nil {
			gr = DefaultGrade
		}
		if m := gr(&req, r); m != nil {
			if err := s.send(mustEncode(m)); err != nil {
				g.log.Warn("pintest: interview grade not sent", "err", err)
			}
		}
	}
}

// DefaultGrade answers an interview with INTERVIEW_COMPLETE. accuracy is the percentage of
// prompts answered without error and with a non-empty response; tokens_per_sec is
// Σtokens_generated / Σtotal_ms; the tier follows the published thresholds (§8.5):
// failed below 70 %, verified above 90 % and 20 tok/s, standard above 10 tok/s, else slow.
func DefaultGrade(req *protocol.InterviewRequest, res *protocol.InterviewResult) protocol.Message {
	n := max(len(req.Prompts), len(res.Results))
	ok, tokens, ms := 0, 0, int64(0)
	for _, p := range res.Results {
		if p.Error == "" && p.Response != "" {
			ok++
		}
		tokens += p.TokensGenerated
		ms += p.TotalMs
	}
	acc, tps := 0.0, 0.0
	if n > 0 {
		acc = 100 * float64(ok) / float64(n)
	}
	if ms > 0 {
		tps = float64(tokens) * 1000 / float64(ms)
	}
	tier, reason := "slow", "Accurate but below 10 tok/s"
	switch {
	case acc < 70:
		tier, reason = "failed", "Accuracy below 70%"
	case acc > 90 && tps > 20:
		tier, reason = "verified", "All thresholds passed"
	case tps > 10:
		tier, reason = "standard", "Standard thresholds passed"
	}
	return &protocol.InterviewComplete{InterviewID: res.InterviewID, NodeID: req.NodeID, Tier: tier, Accuracy: acc, TokensPerSec: tps, Reason: reason}
}

func mustEncode(m protocol.Message) []byte {
	b, err := protocol.Encode(m)
	if err != nil {
		panic(fmt.Sprintf("pintest: encode %s: %v", m.MsgType(), err)) // our own message types only
	}
	return b
}

// ---- Operator API ----

// ClientID is the operator's clientId.
func (op *Operator) ClientID() string { return op.clientID }

// Connected reports whether the operator has an open authenticated session.
func (op *Operator) Connected() bool {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.currentLocked() != nil
}

// Transport is the current session's transport ("ws", "sse"), "" if not connected.
func (op *Operator) Transport() string {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	if s := op.currentLocked(); s != nil {
		return s.transport
	}
	return ""
}

// Sessions counts the operator's authenticated sessions so far (reconnects included).
func (op *Operator) Sessions() int { op.g.mu.Lock(); defer op.g.mu.Unlock(); return op.sessions }

// WaitOnline blocks until the operator has an open authenticated session.
func (op *Operator) WaitOnline(ctx context.Context) error {
	return op.g.Wait(ctx, op.Connected)
}

// WaitSessions blocks until the operator has authenticated n sessions in total and one is
// open (n = 2 waits for the first reconnect).
func (op *Operator) WaitSessions(ctx context.Context, n int) error {
	return op.g.Wait(ctx, func() bool { return op.Sessions() >= n && op.Connected() })
}

// WaitNodes blocks until n distinct aliases are registered on the current session and
// returns the operator's nodes.
func (op *Operator) WaitNodes(ctx context.Context, n int) ([]Node, error) {
	err := op.g.Wait(ctx, func() bool {
		op.g.mu.Lock()
		defer op.g.mu.Unlock()
		s := op.currentLocked()
		return s != nil && len(s.registered) >= n
	})
	if err != nil {
		return nil, fmt.Errorf("pintest: waiting for %d nodes of %s: %w", n, op.clientID, err)
	}
	return op.Nodes(), nil
}

// Nodes lists the operator's nodes in first-registration order.
func (op *Operator) Nodes() []Node {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	out := make([]Node, 0, len(op.nodeOrder))
	for _, a := range op.nodeOrder {
		out = append(out, op.nodes[a].clone())
	}
	return out
}

// Node returns the node registered under alias.
func (op *Operator) Node(alias string) (Node, bool) {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	n := op.nodes[alias]
	if n == nil {
		return Node{}, false
	}
	return n.clone(), true
}

func (n *Node) clone() Node {
	c := *n
	c.Models = append([]string{}, n.Models...)
	return c
}

// Models is what the operator advertises now on its current session: the latest
// MODEL_LIST / X-PIN-Models list if one came, else the union of the models of the nodes
// registered on the session (in registration order).
func (op *Operator) Models() []string {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.modelsLocked()
}

func (op *Operator) modelsLocked() []string {
	s := op.currentLocked()
	if s == nil {
		return nil
	}
	if s.hasList {
		return append([]string{}, s.list...)
	}
	var out []string
	for _, a := range op.nodeOrder {
		if s.registered[a] {
			for _, m := range op.nodes[a].Models {
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// Adverts lists every model advertisement received, all sessions, in order.
func (op *Operator) Adverts() []Advert {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	out := make([]Advert, len(op.adverts))
	for i, a := range op.adverts {
		a.Models = append([]string{}, a.Models...)
		out[i] = a
	}
	return out
}

// WaitModels blocks until pred accepts the advertised list (Models) and returns it, e.g.
// WaitModels(ctx, func(m []string) bool { return slices.Contains(m, "qwen3:0.6b") }).
func (op *Operator) WaitModels(ctx context.Context, pred func(models []string) bool) ([]string, error) {
	var got []string
	err := op.g.Wait(ctx, func() bool { got = op.Models(); return pred(got) })
	return got, err
}

// LastHeartbeat is when the last heartbeat arrived (WS HEARTBEAT or SSE heartbeat POST,
// with or without X-PIN-Models), by Options.Now; zero if none.
func (op *Operator) LastHeartbeat() time.Time {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.lastHB
}

// Heartbeats counts heartbeats received.
func (op *Operator) Heartbeats() int { op.g.mu.Lock(); defer op.g.mu.Unlock(); return op.heartbeats }

// WaitHeartbeats blocks until n heartbeats have arrived in total.
func (op *Operator) WaitHeartbeats(ctx context.Context, n int) error {
	return op.g.Wait(ctx, func() bool { return op.Heartbeats() >= n })
}

// Online reports whether the gateway would route to this operator: connected, and its
// last heartbeat (or its connect, if none yet) is at most OfflineAfter old by Options.Now.
func (op *Operator) Online() bool {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.onlineLocked()
}

func (op *Operator) onlineLocked() bool {
	s := op.currentLocked()
	if s == nil {
		return false
	}
	last := s.connectedAt
	if op.lastHB.After(last) {
		last = op.lastHB
	}
	return op.g.now().Sub(last) <= op.g.opts.OfflineAfter
}

// Wallet is the last payout address received in UPDATE_WALLET.
func (op *Operator) Wallet() string { op.g.mu.Lock(); defer op.g.mu.Unlock(); return op.wallet }

// Frames returns the frames and POSTs this operator sent, in arrival order.
func (op *Operator) Frames() []Frame {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return append([]Frame(nil), op.frames...)
}

// FramesOf returns the received frames of one Type.
func (op *Operator) FramesOf(typ string) []Frame {
	var out []Frame
	for _, f := range op.Frames() {
		if f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

// Sent returns the frames sent to this operator, in order.
func (op *Operator) Sent() []Frame {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return append([]Frame(nil), op.sent...)
}

// Terminals counts the terminal answers received for a request_id (results and errors,
// both transports) or an interview_id (INTERVIEW_RESULTs). Exactly 1 is correct.
func (op *Operator) Terminals(id string) int {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.terminals[id]
}

// Send pushes any message to the operator's current session.
func (op *Operator) Send(m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	s, err := op.current()
	if err != nil {
		return err
	}
	return s.send(b)
}

// SendRaw pushes bytes verbatim: one WS text frame, or raw bytes on the SSE stream (the
// caller writes the framing, e.g. "event: message\ndata: {…}\n\n").
func (op *Operator) SendRaw(b []byte) error {
	s, err := op.current()
	if err != nil {
		return err
	}
	if s.conn != nil {
		if err := s.writeWS(b); err != nil {
			return fmt.Errorf("pintest: send raw: %w", err)
		}
	} else if err := s.enqueue(append([]byte(nil), b...)); err != nil {
		return err
	}
	op.g.mu.Lock()
	op.g.recordSentLocked(s, "raw", append([]byte(nil), b...))
	op.g.mu.Unlock()
	return nil
}

// DropLink cuts the current connection or stream abruptly (WS: TCP close without a Close
// frame; SSE: the stream is cut mid-body), as a network failure would.
func (op *Operator) DropLink() error {
	s, err := op.current()
	if err != nil {
		return err
	}
	s.close(true)
	return nil
}

// DropAll cuts every open connection and stream of every operator abruptly, as a
// gateway process that dies does, and returns how many it cut. Later connections are
// accepted as usual (stop the listener to refuse them).
func (g *Gateway) DropAll() int {
	g.mu.Lock()
	var all []*session
	for _, op := range g.opOrder {
		all = append(all, op.live...)
	}
	g.mu.Unlock()
	for _, s := range all {
		s.close(true)
	}
	return len(all)
}

// Who ended a session (SessionRecord.EndedBy).
const (
	EndedByGateway = "gateway" // DropLink, CloseLink, DropAll, FailInterview, Close, no Pong
	EndedByClient  = "client"  // the client closed or lost the connection or stream
)

// SessionRecord is one authenticated session that has ended.
type SessionRecord struct {
	ID         int
	ClientID   string
	Transport  string
	Start, End time.Time // by Options.Now
	EndedBy    string    // EndedByGateway or EndedByClient
	// Unanswered counts the jobs sent on the session that had no terminal answer when it
	// ended (lost with the link, §11).
	Unanswered int
}

// EndedSessions lists the sessions that have ended, in the order they ended (bounded
// like Frames by Options.MaxFrames).
func (g *Gateway) EndedSessions() []SessionRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]SessionRecord(nil), g.ended...)
}

// SessionEnded reports whether session id has ended and who ended it ("" while open or
// unknown).
func (g *Gateway) SessionEnded(id int) (ended bool, by string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, op := range g.opOrder {
		for _, s := range op.live {
			if s.id == id {
				return false, "", time.Time{}
			}
		}
	}
	for i := len(g.ended) - 1; i >= 0; i-- {
		if g.ended[i].ID == id {
			return true, g.ended[i].EndedBy, g.ended[i].End
		}
	}
	return false, "", time.Time{}
}

// SessionID is the number of the operator's current session (0 when none is open).
func (op *Operator) SessionID() int {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	if s := op.currentLocked(); s != nil {
		return s.id
	}
	return 0
}

// CloseLink ends the current connection or stream cleanly (WS Close frame; SSE end of
// body after the frames already queued).
func (op *Operator) CloseLink() error {
	s, err := op.current()
	if err != nil {
		return err
	}
	s.close(false)
	return nil
}

// FailInterview sends INTERVIEW_FAILED and then closes the session, as the real gateway
// does. retryAfterSeconds > 0 sends retry_after_seconds with reason "recently_failed";
// requiredModels sends required_models with reason "no_interview_model". node_id is the
// first node registered on the session.
func (op *Operator) FailInterview(retryAfterSeconds uint64, requiredModels ...string) error {
	s, err := op.current()
	if err != nil {
		return err
	}
	f := &protocol.InterviewFailed{Reason: "interview_failed", Message: "Interview failed."}
	op.g.mu.Lock()
	for _, a := range op.nodeOrder {
		if s.registered[a] {
			f.NodeID = op.nodes[a].ID
			break
		}
	}
	op.g.mu.Unlock()
	if retryAfterSeconds > 0 {
		f.Reason = "recently_failed"
		f.Message = fmt.Sprintf("Interview failed recently. Please wait %d seconds before reconnecting, or upgrade your hardware.", retryAfterSeconds)
		f.RetryAfterSeconds = &retryAfterSeconds
	}
	if len(requiredModels) > 0 {
		f.Reason, f.Message = "no_interview_model", "No interview model available."
		f.RequiredModels = requiredModels
	}
	err = s.send(mustEncode(f))
	s.close(false)
	return err
}

// PingJSON sends {"type":"PING"} on the current WebSocket and waits for a PONG frame.
func (op *Operator) PingJSON(ctx context.Context) error {
	s, err := op.current()
	if err != nil {
		return err
	}
	if s.conn == nil {
		return fmt.Errorf("%w: JSON PING is answered on WebSocket only", ErrWrongTransport)
	}
	after := op.g.lastSeq()
	if err := s.send(mustEncode(&protocol.Ping{})); err != nil {
		return err
	}
	return op.waitFrame(ctx, s, after, func(f Frame) bool { return f.Type == protocol.TypePong })
}

// PingProtocol sends a WebSocket protocol Ping with payload and waits for the Pong that
// echoes it (L11).
func (op *Operator) PingProtocol(ctx context.Context, payload []byte) error {
	s, err := op.current()
	if err != nil {
		return err
	}
	if s.conn == nil {
		return fmt.Errorf("%w: protocol Ping exists on WebSocket only", ErrWrongTransport)
	}
	after := op.g.lastSeq()
	s.wmu.Lock()
	err = s.conn.WriteControl(websocket.PingMessage, payload, time.Now().Add(5*time.Second))
	s.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("pintest: protocol ping: %w", err)
	}
	return op.waitFrame(ctx, s, after, func(f Frame) bool { return f.Type == "ws:pong" && string(f.Body) == string(payload) })
}

func (g *Gateway) lastSeq() int { g.mu.Lock(); defer g.mu.Unlock(); return g.seq }

// waitFrame waits for a frame after seq on session s that matches, or for s to end.
func (op *Operator) waitFrame(ctx context.Context, s *session, after int, match func(Frame) bool) error {
	found := false
	err := op.g.Wait(ctx, func() bool {
		op.g.mu.Lock()
		defer op.g.mu.Unlock()
		for i := len(op.frames) - 1; i >= 0 && op.frames[i].Seq > after; i-- {
			if op.frames[i].Session == s.id && match(op.frames[i]) {
				found = true
				return true
			}
		}
		select {
		case <-s.done:
			return true
		default:
			return false
		}
	})
	if err == nil && !found {
		err = errors.New("pintest: session ended before the answer")
	}
	return err
}
