package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
)

// sessionResult is how one connection attempt ended.
type sessionResult struct {
	err           error         // nil when the session was ended on purpose (drained)
	connected     bool          // the gateway accepted us (false: the dial failed)
	onlineFor     time.Duration // how long it stayed registered
	retryAfter    time.Duration // from INTERVIEW_FAILED, honoured once
	interviewNote string
}

// session is one authenticated link. It owns the conn; every goroutine it starts ends
// before runSession returns.
type session struct {
	e    *Engine
	conn transport.Conn
	log  *slog.Logger

	linkCtx  context.Context // cancelled when the link is gone; parent of every job
	draining atomic.Bool
	jobs     sync.WaitGroup

	mu         sync.Mutex
	cancels    map[string]context.CancelFunc // guarded by mu: running jobs by request_id
	serverIDs  map[string]int                // guarded by mu: REGISTER_NODE_ACK node_id → node index
	retryAfter time.Duration                 // guarded by mu
	note       string                        // guarded by mu
	warned     map[string]bool               // guarded by mu: unknown types already logged

	discovering atomic.Bool
}

// runSession is one connection attempt: dial (SSE, falling back to WS on a handshake
// failure, §2.1/G9), register, serve until the link ends or ctx ends. When ctx ends it
// drains: no new jobs, running ones finish (up to the grace period) and their results
// are delivered before the link closes.
func (e *Engine) runSession(ctx context.Context) (res sessionResult) {
	e.setState(StateConnecting, "", time.Time{})
	kind := transportOf(e.cfg)
	to := transport.Options{ServerURL: e.cfg.ServerURL, ClientID: e.cfg.ClientID, Secret: e.opts.Secret, Logger: e.log,
		UplinkPosts: e.uplinkPosts()}
	conn, err := e.opts.Dial(ctx, kind, to)
	var hs *transport.HandshakeError
	if err != nil && kind == transport.SSE && errors.As(err, &hs) && ctx.Err() == nil {
		e.log.Warn("SSE connect failed; trying WebSocket", "err", err)
		kind = transport.WS
		conn, err = e.opts.Dial(ctx, kind, to)
	}
	if err != nil {
		if ctx.Err() != nil {
			return sessionResult{}
		}
		return sessionResult{err: fmt.Errorf("connect: %w", err)}
	}
	res.connected = true
	e.update(func(st *Status) { st.Transport = kind })
	e.log.Info("authenticated with the gateway", "transport", kind)

	linkCtx, cancelLink := context.WithCancel(context.WithoutCancel(ctx))
	s := &session{
		e: e, conn: conn, log: e.log.With("transport", kind), linkCtx: linkCtx,
		cancels: map[string]context.CancelFunc{}, serverIDs: map[string]int{}, warned: map[string]bool{},
	}
	var onlineAt atomic.Int64
	errc := make(chan error, 2)
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); errc <- s.readLoop(linkCtx) }()
	go func() {
		defer loops.Done()
		errc <- s.keepalive(linkCtx, func() { onlineAt.Store(time.Now().UnixNano()) })
	}()

	select {
	case err = <-errc:
	case <-ctx.Done():
		s.drain()
	}
	cancelLink()
	conn.Close()
	loops.Wait()
	s.jobs.Wait()
	if t := onlineAt.Load(); t != 0 {
		res.onlineFor = time.Since(time.Unix(0, t))
	}
	s.mu.Lock()
	res.retryAfter, res.interviewNote = s.retryAfter, s.note
	s.mu.Unlock()
	if ctx.Err() == nil {
		res.err = err
	}
	return res
}

// drain stops taking jobs and waits for running ones, up to the grace period.
func (s *session) drain() {
	s.draining.Store(true)
	grace := s.e.opts.Grace
	if !s.e.wantOnline.Load() {
		grace = s.e.opts.OfflineGrace
	}
	s.e.setState(StateDraining, "", time.Time{})
	s.log.Info("draining: no new jobs; waiting for running jobs", "grace", grace)
	done := make(chan struct{})
	go func() { s.jobs.Wait(); close(done) }()
	ctx, cancel := context.WithTimeout(s.linkCtx, grace)
	defer cancel()
	select {
	case <-done:
		if err := s.conn.Flush(ctx); err != nil {
			s.log.Warn("link closed before every answer was sent", "err", err)
			return
		}
		s.log.Info("drained: all running jobs answered")
	case <-ctx.Done():
		s.log.Warn("grace period over; abandoning running jobs", "grace", grace)
	}
}

// keepalive registers the nodes, then heartbeats on a real ticker (L10), re-discovering
// and re-asserting models every 60 s (G6). Discovery runs off this loop, so a slow
// backend never delays a heartbeat.
func (s *session) keepalive(ctx context.Context, online func()) error {
	c := s.e.cfg
	if c.PayoutAddress != "" {
		switch err := s.conn.UpdateWallet(ctx, c.PayoutAddress); {
		case errors.Is(err, transport.ErrUnsupported):
			s.log.Info("payout address not sent: the SSE transport has no wallet endpoint; set transport \"ws\" to update it", "tag", "wallet")
		case err != nil:
			return err
		default:
			s.log.Info("payout address sent", "tag", "wallet", "address", maskAddress(c.PayoutAddress))
		}
	}
	s.registerAll(ctx, true, true)
	s.e.setState(StateOnline, "", time.Time{})
	online()

	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.conn.Heartbeat(ctx); err != nil {
			return err
		}
		if tick%modelsEvery == 0 && s.discovering.CompareAndSwap(false, true) {
			check := (tick/modelsEvery)%checkEvery == 0
			go func() {
				defer s.discovering.Store(false)
				s.registerAll(ctx, false, check)
			}()
		}
	}
}

// registerAll discovers every node's models in parallel and registers the nodes in
// config order. On a refresh (first=false) only nodes whose models changed are
// re-registered; the union is re-asserted either way.
// check runs Options.CheckNode too (at registration, then every few refreshes: it is a
// full identification of each backend).
func (s *session) registerAll(ctx context.Context, first, check bool) {
	e := s.e
	found := make([][]string, len(e.nodes))
	errs := make([]error, len(e.nodes))
	problems := make([][]NodeProblem, len(e.nodes))
	var wg sync.WaitGroup
	for i, n := range e.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, discoverTimeout)
			defer cancel()
			found[i], errs[i] = n.backend.Models(dctx)
		}()
		if check && e.opts.CheckNode != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dctx, cancel := context.WithTimeout(ctx, discoverTimeout)
				defer cancel()
				problems[i] = e.opts.CheckNode(dctx, n.cfg)
			}()
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	var union []string
	for i := range e.nodes {
		union = append(union, s.applyNode(ctx, i, found[i], errs[i], problems[i], first, check)...)
	}
	slices.Sort(union)
	union = slices.Compact(union)
	if len(union) > 0 {
		if err := s.conn.AdvertiseModels(ctx, union); err != nil {
			s.log.Warn("model list re-assertion failed", "err", err)
		}
	}
}

// applyNode records one node's discovery (and check, when checked) results, registers the node when
// this is the session's first registration or its models changed, and returns the
// models it advertises. A failed discovery keeps the models known before (none on a
// session's first registration).
func (s *session) applyNode(ctx context.Context, i int, models []string, err error, problems []NodeProblem, first, checked bool) []string {
	e, n := s.e, s.e.nodes[i]
	if err != nil {
		models = nil
		if !first {
			models = n.modelList()
		}
		hint := backendHint(n.cfg.APIMode, n.cfg.InferenceURI, err)
		e.updateNode(i, func(ns *NodeStatus) { ns.BackendOK, ns.BackendError = false, hint })
		if !s.warnedOnce("discover:" + n.cfg.Alias) {
			s.log.Error("cannot list models", "tag", "node", "node", n.cfg.Alias, "err", err, "fix", hint)
		}
	} else {
		s.clearWarned("discover:" + n.cfg.Alias)
	}
	models = slices.Compact(slices.Sorted(slices.Values(models)))
	changed := !slices.Equal(models, n.modelList())
	n.models.Store(&models)
	if err == nil {
		e.updateNode(i, func(ns *NodeStatus) { ns.BackendOK, ns.BackendError, ns.Models = true, "", models })
		if len(models) == 0 && !s.warnedOnce("nomodels:"+n.cfg.Alias) {
			s.log.Warn("backend has no models; pull one (e.g. `ollama pull llama3:8b`) or load one in your server", "tag", "node", "node", n.cfg.Alias)
		}
	}
	if checked { // otherwise the last check's findings stand
		s.reportProblems(i, problems)
	}
	adv := advertised(n)
	if first || changed {
		reg := protocol.RegisterNode{
			Alias: n.cfg.Alias, Models: adv, Capacity: n.cfg.Capacity, Region: n.cfg.Region,
			PricePerThousandTokens: n.cfg.Price(), InterviewModel: n.cfg.InterviewModel, APIMode: n.cfg.APIMode,
		}
		if err := s.conn.Register(ctx, reg); err != nil {
			s.log.Warn("node registration failed", "tag", "node", "node", n.cfg.Alias, "err", err)
		} else {
			s.log.Info("node registered", "tag", "node", "node", n.cfg.Alias, "models", len(adv), "capacity", n.cfg.Capacity, "region", n.cfg.Region)
		}
	}
	return adv
}

// reportProblems shows a node's check findings in its status and logs those not
// logged before in this session.
func (s *session) reportProblems(i int, ps []NodeProblem) {
	if s.e.opts.CheckNode == nil {
		return
	}
	n := s.e.nodes[i]
	var errText, degraded []string
	for _, p := range ps {
		line := p.Message
		if p.Fix != "" {
			line += ": " + p.Fix
		}
		switch p.Severity {
		case "error":
			errText = append(errText, line)
		case "degraded":
			degraded = append(degraded, line)
		}
		if s.warnedOnce("problem:" + n.cfg.Alias + ":" + line) {
			continue
		}
		lvl := s.log.Warn
		if p.Severity == "error" {
			lvl = s.log.Error
		}
		lvl("node problem", "tag", "node", "node", n.cfg.Alias, "severity", p.Severity, "problem", p.Message, "fix", p.Fix)
	}
	s.e.updateNode(i, func(ns *NodeStatus) {
		if len(errText) > 0 {
			ns.BackendOK, ns.BackendError = false, strings.Join(errText, "; ")
		}
		ns.Degraded = strings.Join(degraded, "; ")
	})
}

// advertised is a node's registered model list: its chat models plus tts:<name>.
func advertised(n *node) []string {
	out := slices.Clone(n.modelList())
	if n.cfg.TTSURI != "" {
		for _, m := range n.cfg.TTSModels {
			if t := "tts:" + m; !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func backendHint(mode, uri string, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "refused") || strings.Contains(msg, "unreachable") || strings.Contains(msg, "no such host"):
		if mode == "openai" {
			return fmt.Sprintf("nothing answers at %s: start your OpenAI-compatible server or fix inferenceUri", uri)
		}
		return fmt.Sprintf("nothing answers at %s: start Ollama (`ollama serve`) or fix inferenceUri", uri)
	case strings.Contains(msg, "404"):
		return fmt.Sprintf("%s does not speak the %q API: check apiMode (run `pin-clientd detect`)", uri, mode)
	}
	return fmt.Sprintf("backend at %s failed: %s", uri, msg)
}

func (s *session) warnedOnce(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.warned[key]
	s.warned[key] = true
	return seen
}

func (s *session) clearWarned(key string) {
	s.mu.Lock()
	delete(s.warned, key)
	s.mu.Unlock()
}

func maskAddress(a string) string {
	if len(a) <= 10 {
		return "…"
	}
	return a[:6] + "…" + a[len(a)-4:]
}

// readLoop dispatches downlink messages. It never does backend work itself (L9, G11).
func (s *session) readLoop(ctx context.Context) error {
	for {
		m, err := s.conn.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.dispatch(m)
	}
}

func (s *session) dispatch(m protocol.Message) {
	e := s.e
	switch m := m.(type) {
	case *protocol.AuthSuccess:
		s.log.Debug("auth success", "operator", m.OperatorID)
	case *protocol.RegisterNodeAck:
		verb := "UPDATED"
		if m.Created {
			verb = "REGISTERED"
		}
		if i := s.nodeByAlias(m.Alias); i >= 0 {
			s.mu.Lock()
			s.serverIDs[m.NodeID] = i
			s.mu.Unlock()
			e.updateNode(i, func(ns *NodeStatus) { ns.ServerID = m.NodeID })
		}
		s.log.Info("gateway acknowledged node", "tag", "node", "result", verb, "node", m.Alias, "node_id", m.NodeID, "models", len(m.Models))
	case *protocol.UpdateWalletAck:
		if m.Success {
			s.log.Info("payout address updated", "tag", "wallet", "message", m.Message)
		} else {
			s.log.Warn("payout address rejected", "tag", "wallet", "message", m.Message)
		}
	case *protocol.InferenceRequest:
		s.startInference(m)
	case *protocol.TTSRequest:
		s.startTTS(m)
	case *protocol.InterviewRequest:
		s.startInterview(m)
	case *protocol.InterviewComplete:
		s.interviewComplete(m)
	case *protocol.InterviewFailed:
		s.interviewFailed(m)
	case *protocol.CancelRequest:
		s.mu.Lock()
		cancel := s.cancels[m.RequestID]
		s.mu.Unlock()
		if cancel != nil {
			s.log.Info("gateway cancelled a job", "tag", "inference", "request_id", m.RequestID)
			cancel()
		}
	case *protocol.ResultAck, *protocol.HeartbeatAck, *protocol.ModelListAck, *protocol.Pong:
	case *protocol.Unknown:
		if !s.warnedOnce("type:" + m.Type) {
			s.log.Warn("ignoring message of unknown type", "type", m.Type)
		}
	default:
		s.log.Debug("ignoring unexpected message", "type", m.MsgType())
	}
}

// nodeByAlias finds a node by alias; the gateway may add a/b/c suffixes to duplicates.
func (s *session) nodeByAlias(alias string) int {
	for i, n := range s.e.nodes {
		if n.cfg.Alias == alias {
			return i
		}
	}
	for i, n := range s.e.nodes {
		if len(alias) == len(n.cfg.Alias)+1 && strings.HasPrefix(alias, n.cfg.Alias) {
			return i
		}
	}
	return -1
}
