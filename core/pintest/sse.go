package pintest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// Header names of the SSE transport (§2.3).
const (
	HeaderClientID    = "X-PIN-Client-Id"
	HeaderTimestamp   = "X-PIN-Timestamp"
	HeaderSignature   = "X-PIN-Signature"
	HeaderStreamToken = "X-PIN-Stream-Token"
	HeaderModels      = "X-PIN-Models"
)

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// serveConnect is GET /stream/connect: the SSE downlink (§2.3, §16).
func (g *Gateway) serveConnect(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	var err error
	status := http.StatusUnauthorized
	var op *Operator
	switch {
	case r.Method != http.MethodGet:
		status, err = http.StatusMethodNotAllowed, errorf("stream/connect takes GET")
	case !strings.Contains(h.Get("Accept"), "text/event-stream"):
		status, err = http.StatusBadRequest, errorf("missing header Accept: text/event-stream")
	default:
		op, err = g.authenticate(h.Get(HeaderClientID), h.Get(HeaderTimestamp), h.Get(HeaderSignature))
	}
	fl, canFlush := w.(http.Flusher)
	if err == nil && !canFlush {
		status, err = http.StatusInternalServerError, errorf("response writer cannot flush")
	}
	g.mu.Lock()
	g.checkLeakLocked(headerBytes(h))
	f := Frame{Transport: TransportSSE, Path: r.URL.Path, Type: "CONNECT"}
	if err != nil {
		f.Status, f.Err = status, err.Error()
		g.recordLocked(nil, f)
		g.mu.Unlock()
		g.log.Warn("pintest: stream connect rejected", "status", status, "reason", err.Error())
		httpError(w, status, err.Error())
		return
	}
	if g.closed {
		g.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "pintest: gateway closed")
		return
	}
	s := g.openSessionLocked(op, TransportSSE)
	s.token = randID("pst_", 18)
	s.out = make(chan []byte, 1024)
	g.tokens[s.token] = s
	f.Session, f.Status = s.id, http.StatusOK
	g.recordLocked(op, f)
	g.mu.Unlock()
	defer g.endSession(s)
	g.log.Info("pintest: operator authenticated", "operator", op.clientID, "transport", TransportSSE, "session", s.id)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set(HeaderStreamToken, s.token)
	w.WriteHeader(http.StatusOK)

	// AUTH_SUCCESS is the first event; the handler is the stream's only writer, so
	// anything queued meanwhile (a REGISTER_NODE_ACK, a test's Send) follows it.
	var auth protocol.Message = &protocol.AuthSuccess{OperatorID: op.clientID, Message: "SSE stream connected"}
	if g.opts.AuthSuccessCamelCase {
		raw, _ := json.Marshal(map[string]any{"type": protocol.TypeAuthSuccess, "operatorId": op.clientID,
			"leaseUntil": float64(g.now().Add(g.opts.OfflineAfter).UnixMilli()) / 1000, "streamToken": s.token})
		auth = &protocol.Unknown{Type: protocol.TypeAuthSuccess, Raw: raw}
	}
	ab := mustEncode(auth)
	if g.writeSSE(w, fl, sseFrame(ab)) != nil {
		return
	}
	g.mu.Lock()
	g.recordSentLocked(s, protocol.TypeAuthSuccess, ab)
	g.mu.Unlock()

	var keepalive <-chan time.Time
	if g.opts.KeepaliveInterval > 0 {
		t := time.NewTicker(g.opts.KeepaliveInterval)
		defer t.Stop()
		keepalive = t.C
	}
	for {
		select {
		case b := <-s.out:
			if g.writeSSE(w, fl, b) != nil {
				return
			}
		case <-keepalive:
			if g.writeSSE(w, fl, []byte(": keepalive\n\n")) != nil {
				return
			}
		case <-s.done:
			if s.abrupt {
				// Cut the stream mid-body: no terminating chunk, the client sees an error.
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					_ = conn.Close()
				}
				return
			}
			for {
				select {
				case b := <-s.out:
					if g.writeSSE(w, fl, b) != nil {
						return
					}
				default:
					return
				}
			}
		case <-r.Context().Done():
			return
		}
	}
}

// Keepalive writes one ": keepalive" comment on the operator's current SSE stream.
func (op *Operator) Keepalive() error {
	s, err := op.current()
	if err != nil {
		return err
	}
	if s.out == nil {
		return fmt.Errorf("%w: keepalive comments exist on SSE only", ErrWrongTransport)
	}
	return s.enqueue([]byte(": keepalive\n\n"))
}

func sseFrame(b []byte) []byte {
	f := make([]byte, 0, len(b)+24)
	f = append(f, "event: message\ndata: "...)
	f = append(f, b...)
	return append(f, "\n\n"...)
}

// writeSSE writes one frame and flushes; with SplitWrites, in several flushed pieces.
func (g *Gateway) writeSSE(w io.Writer, fl http.Flusher, frame []byte) error {
	if !g.opts.SplitWrites {
		if _, err := w.Write(frame); err != nil {
			return err
		}
		fl.Flush()
		return nil
	}
	prev := 0
	for _, c := range append(splitPoints(frame), len(frame)) {
		if _, err := w.Write(frame[prev:c]); err != nil {
			return err
		}
		fl.Flush()
		prev = c
	}
	return nil
}

// splitPoints cuts after the first byte, inside the first multi-byte UTF-8 sequence,
// in the middle, and between the two final LFs.
func splitPoints(b []byte) []int {
	n := len(b)
	pts := []int{1, n / 2, n - 1}
	if i := bytes.IndexFunc(b, func(r rune) bool { return r >= 0x80 }); i >= 0 {
		pts = append(pts, i+1)
	}
	slices.Sort(pts)
	pts = slices.Compact(pts)
	return slices.DeleteFunc(pts, func(p int) bool { return p <= 0 || p >= n })
}

// parseModels splits X-PIN-Models (comma-joined, §2.3).
func parseModels(v string) []string {
	var out []string
	for _, m := range strings.Split(v, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

func postType(path string, hasModels bool) string {
	switch path {
	case RegisterPath:
		return protocol.TypeRegisterNode
	case HeartbeatPath:
		if hasModels {
			return protocol.TypeModelList
		}
		return protocol.TypeHeartbeat
	case ChunkPath:
		return protocol.TypeInferenceChunk
	default:
		return "RESULT"
	}
}

// servePost is POST /stream/{register,heartbeat,chunk,result} (§2.3, §4.4, §16).
func (g *Gateway) servePost(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	body, rerr := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	_, hasModels := h[http.CanonicalHeaderKey(HeaderModels)]
	models := parseModels(h.Get(HeaderModels))
	f := Frame{Transport: TransportSSE, Path: r.URL.Path, Type: postType(r.URL.Path, hasModels), Body: body, Models: models}

	var op *Operator
	var s *session
	var err error
	status := http.StatusUnauthorized
	switch {
	case r.Method != http.MethodPost:
		status, err = http.StatusMethodNotAllowed, errorf("%s takes POST", r.URL.Path)
	case rerr != nil:
		status, err = http.StatusBadRequest, errorf("read body: %v", rerr)
	default:
		op, err = g.authenticate(h.Get(HeaderClientID), h.Get(HeaderTimestamp), h.Get(HeaderSignature))
	}
	g.mu.Lock()
	g.checkLeakLocked(body, headerBytes(h))
	if err == nil {
		s = g.tokens[h.Get(HeaderStreamToken)]
		switch {
		case s == nil || s.op != op:
			s, status, err = nil, http.StatusForbidden, errorf("unknown or expired %s: reconnect with GET stream/connect", HeaderStreamToken)
		case len(body) > 0 && !strings.HasPrefix(h.Get("Content-Type"), "application/json"):
			status, err = http.StatusUnsupportedMediaType, errorf("a JSON body needs Content-Type: application/json")
		}
	}
	if s != nil {
		f.Session = s.id
	}
	seq := g.recordLocked(op, f)
	g.mu.Unlock()

	respond := func(status int, err error) {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		g.mu.Lock()
		g.updateFrameLocked(op, seq, func(f *Frame) { f.Status, f.Err = status, msg })
		g.mu.Unlock()
		if err != nil {
			g.log.Warn("pintest: uplink rejected", "path", r.URL.Path, "status", status, "reason", msg)
			httpError(w, status, msg)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	}
	if err != nil {
		respond(status, err)
		return
	}
	g.delay(r.Context().Done())

	switch r.URL.Path {
	case RegisterPath:
		var rn protocol.RegisterNode
		if err := json.Unmarshal(body, &rn); err != nil || rn.Alias == "" {
			respond(http.StatusUnprocessableEntity, errorf("register body must be a node with an alias (§4.3.3): %v", err))
			return
		}
		ack := g.registerNode(s, &rn)
		if err := s.send(mustEncode(ack)); err != nil {
			g.log.Warn("pintest: ack not sent", "err", err)
		}
		respond(http.StatusOK, nil)
		g.afterRegister(s, rn.Alias)

	case HeartbeatPath:
		g.mu.Lock()
		st := g.hbStatus
		g.mu.Unlock()
		if st != 0 {
			respond(st, errorf("heartbeat refused (injected fault)"))
			return
		}
		if hasModels {
			g.advertise(s, "X-PIN-Models", models)
		} else if len(body) > 0 && !json.Valid(body) {
			respond(http.StatusUnprocessableEntity, errorf("heartbeat body must be JSON ({})"))
			return
		}
		g.heartbeat(s)
		respond(http.StatusOK, nil)

	case ChunkPath:
		var c protocol.InferenceChunk
		if err := json.Unmarshal(body, &c); err != nil || c.RequestID == "" {
			respond(http.StatusUnprocessableEntity, errorf("chunk body must be {request_id,index,delta,kind}: %v", err))
			return
		}
		g.chunk(s, c)
		respond(http.StatusOK, nil)

	case ResultPath:
		typ, grade, err := g.postResult(s, body)
		g.mu.Lock()
		g.updateFrameLocked(op, seq, func(f *Frame) { f.Type = typ })
		ackNoID := g.ackNoID
		g.mu.Unlock()
		if err != nil {
			respond(http.StatusUnprocessableEntity, err)
			return
		}
		respond(http.StatusOK, nil)
		var rid struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(body, &rid)
		if ackNoID {
			rid.RequestID = ""
		}
		if err := s.send(mustEncode(&protocol.ResultAck{RequestID: rid.RequestID})); err != nil {
			g.log.Warn("pintest: result ack not sent", "err", err)
		}
		if grade != nil {
			grade()
		}
	}
}

// postResult checks and records a /stream/result body {"request_id","result":P}. grade
// is the interview grading step to run after the RESULT_ACK.
func (g *Gateway) postResult(s *session, body []byte) (typ string, grade func(), err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "RESULT", nil, errorf("result body is not a JSON object: %v", err)
	}
	if _, ok := top["type"]; ok {
		return "RESULT", nil, errorf(`result body carries "type": send {"request_id","result"}, the payload, not the envelope (§4.4)`)
	}
	p, ok := top["result"]
	if !ok || string(p) == "null" {
		return "RESULT", nil, errorf(`result body needs "result" (§4.4)`)
	}
	var rid string
	if raw, ok := top["request_id"]; ok {
		if err := json.Unmarshal(raw, &rid); err != nil {
			return "RESULT", nil, errorf("request_id must be a string: %v", err)
		}
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(p, &inner); err != nil {
		return "RESULT", nil, errorf("result must be a JSON object: %v", err)
	}
	if _, wrapped := inner["result"]; wrapped {
		return "RESULT", nil, errorf("result is wrapped twice: send the payload, not the envelope (§4.4)")
	}
	if rid == "" {
		var ir protocol.InterviewResult
		if err := json.Unmarshal(p, &ir); err != nil || ir.InterviewID == "" {
			return "RESULT", nil, errors.New("result without request_id must be an interview result with interview_id")
		}
		return protocol.TypeInterviewResult, g.interviewResult(s, &ir), nil
	}
	_, hasErr := inner["error"]
	_, hasChoices := inner["choices"]
	_, hasAudio := inner["audio_b64"]
	if !hasErr && !hasChoices && !hasAudio {
		return "RESULT", nil, errorf(`result has none of "choices", "audio_b64", "error"`)
	}
	return g.terminal(s, rid, "", body, p), nil, nil
}

func (g *Gateway) updateFrameLocked(op *Operator, seq int, fn func(*Frame)) {
	upd := func(fs []Frame) {
		for i := len(fs) - 1; i >= 0; i-- {
			if fs[i].Seq == seq {
				fn(&fs[i])
				return
			}
		}
	}
	upd(g.frames)
	if op != nil {
		upd(op.frames)
	}
	g.broadcastLocked()
}
