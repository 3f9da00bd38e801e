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

	linkCtx  context.Context    // cancelled when the link is gone
	jobsCtx  context.Context    // child of linkCtx, parent of every job and interview
	abandon  context.CancelFunc // cancels jobsCtx when the drain's grace period is over
	draining atomic.Bool
	jobs     sync.WaitGroup

	mu         sync.Mutex
	cancels    map[string]context.CancelFunc // guarded by mu: running jobs by request_id
	serverIDs  map[string]int                // guarded by mu: REGISTER_NODE_ACK node_id → node index
	retryAfter time.Duration                 // guarded by mu
	note       string                        // guarded by mu
	warned     map[string]bool               // guarded by mu: unknown types already logged
	registered map[int][]string              // guarded by mu: node index → models last registered (sorted)
	pending    map[int][]string              // guarded by mu: node index → changed models seen once (sorted)

	discovering atomic.Bool
	// regMu orders registrations with withdraw: a registration that started before a
	// drain finishes before the withdrawal is sent, and none starts after it.
	regMu   sync.Mutex
	refresh sync.WaitGroup // the model refresh keepalive started; runSession awaits it
}

// runSession is one connection attempt: dial (SSE, falling back to WS on a handshake
// failure, §2.1/G9), register, serve until the link ends or ctx ends. When ctx ends it
// drains: no new jobs, running ones finish (up to the grace period) and their results
// are delivered before the link closes. quit is Run's context (ctx's parent): when it
// ends during a longer "go offline" drain, the drain is cut to Options.Grace.
func (e *Engine) runSession(ctx, quit context.Context) (res sessionResult) {
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
	jobsCtx, abandon := context.WithCancel(linkCtx)
	defer abandon()
	s := &session{
		e: e, conn: conn, log: e.log.With("transport", kind), linkCtx: linkCtx, jobsCtx: jobsCtx, abandon: abandon,
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
		s.drain(quit, errc)
	}
	cancelLink()
	conn.Close()
	loops.Wait()
	s.refresh.Wait() // it ends with linkCtx
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

// drain stops taking jobs and waits for running ones, up to the grace period. Jobs
// still running then are cancelled and answered with errShutdown; their answers (and
// everything else queued) get at most flushTimeout to go out before the link closes.
// It keeps watching the link (errc): once the link is dead nothing can be delivered, so
// the drain ends at once. quit ending cuts a longer grace to Options.Grace from then.
func (s *session) drain(quit context.Context, errc <-chan error) {
	s.draining.Store(true)
	grace := s.e.opts.Grace
	if !s.e.serving() {
		grace = s.e.opts.OfflineGrace
	}
	if s.running() > 0 {
		// Jobs keep the link open a while: stop the gateway sending more meanwhile.
		s.refresh.Go(func() { s.withdraw(s.linkCtx) })
	}
	s.e.setState(StateDraining, "", time.Time{})
	s.log.Info("draining: no new jobs; waiting for running jobs", "grace", grace)
	done := make(chan struct{})
	go func() { s.jobs.Wait(); close(done) }()
	deadline := time.Now().Add(grace)
	t := time.NewTimer(grace)
	defer t.Stop()
	quitc := quit.Done()
	if grace <= s.e.opts.Grace {
		quitc = nil
	}
	for waiting := true; waiting; {
		select {
		case <-done:
			s.flush("drained: all running jobs answered")
			return
		case err := <-errc:
			s.log.Warn("gateway link lost while draining; running jobs cannot be answered", "err", err, "jobs_lost", s.running())
			return
		case <-quitc:
			quitc = nil
			if d := time.Now().Add(s.e.opts.Grace); d.Before(deadline) {
				deadline = d
				t.Reset(s.e.opts.Grace)
				s.log.Info("stopping: the drain now ends within the shutdown grace", "grace", s.e.opts.Grace)
			}
		case <-t.C:
			waiting = false
		}
	}
	s.log.Warn("grace period over; cancelling running jobs and sending their errors", "grace", grace, "jobs", s.running())
	s.abandon()
	s.flush("drained: every job answered")
}

// running counts the jobs (not interviews) admitted and not finished.
func (s *session) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cancels)
}

// flush waits (at most flushTimeout) for every job to queue its answer and for the
// transport to send everything queued.
func (s *session) flush(okMsg string) {
	ctx, cancel := context.WithTimeout(s.linkCtx, flushTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { s.jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("jobs did not stop in time; their answers are lost", "waited", flushTimeout)
		return
	}
	if err := s.conn.Flush(ctx); err != nil {
		s.log.Warn("link closed before every answer was sent", "err", err)
		return
	}
	s.log.Info(okMsg)
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
	if s.registerKnown(ctx) {
		// Back after a drop (a gateway deploy, a reset): every node is registered again
		// with the models it had, without waiting for discovery, which a hung backend
		// can hold up for discoverTimeout. Discovery and the checks follow; a real model
		// change re-registers the node as on any refresh.
		s.e.setState(StateOnline, "", time.Time{})
		online()
		s.registerAll(ctx, false, true)
	} else {
		s.registerAll(ctx, true, true)
		s.e.setState(StateOnline, "", time.Time{})
		online()
	}

	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	lastOK := time.Now()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.conn.Heartbeat(ctx); err != nil {
			// One failed POST (a load balancer's 502) must not throw away every running
			// job: the gateway evicts only after 60 s. A link or session that is gone
			// ends the session at once.
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, transport.ErrClosed) || errors.Is(err, transport.ErrSessionGone) ||
				errors.Is(err, transport.ErrAuthRejected) || time.Since(lastOK) >= heartbeatGrace {
				return err
			}
			s.log.Warn("heartbeat failed; retrying on the next tick", "err", err, "last_ok_ago", time.Since(lastOK).Round(time.Second))
			continue
		}
		lastOK = time.Now()
		if tick%modelsEvery == 0 && !s.draining.Load() && s.discovering.CompareAndSwap(false, true) {
			check := (tick/modelsEvery)%checkEvery == 0
			s.refresh.Go(func() {
				defer s.discovering.Store(false)
				s.registerAll(ctx, false, check)
			})
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
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.draining.Load() {
		return // withdrawn while draining (withdraw): advertise nothing again
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

// registerKnown registers every node at once, in parallel, with the models found for it
// in an earlier session of this engine. It registers nothing and returns false when a
// node has none yet (the engine's first session): then registration waits for
// discovery. A failed registration is logged and the node is registered again on the
// next refresh that sees its models.
func (s *session) registerKnown(ctx context.Context) bool {
	e := s.e
	known := make([][]string, len(e.nodes))
	for i, n := range e.nodes {
		p := n.models.Load()
		if p == nil {
			return false
		}
		known[i] = advertised(n)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.draining.Load() {
		return true // draining before the first registration: nothing to withdraw later
	}
	var wg sync.WaitGroup
	for i, n := range e.nodes {
		wg.Go(func() {
			adv := known[i]
			if err := s.conn.Register(ctx, registration(n, adv)); err != nil {
				s.log.Warn("node registration failed", "tag", "node", "node", n.cfg.Alias, "err", err)
				return
			}
			s.setRegistered(i, adv)
			s.log.Info("node registered", "tag", "node", "node", n.cfg.Alias, "models", len(adv), "capacity", n.cfg.Capacity, "region", n.cfg.Region, "from", "last session")
		})
	}
	wg.Wait()
	return true
}

// registration is node n's REGISTER_NODE advertising adv.
func registration(n *node, adv []string) protocol.RegisterNode {
	return protocol.RegisterNode{
		Alias: n.cfg.Alias, Models: adv, Capacity: n.cfg.Capacity, Region: n.cfg.Region,
		PricePerThousandTokens: n.cfg.Price(), InterviewModel: n.cfg.InterviewModel, APIMode: n.cfg.APIMode,
	}
}

// setRegistered records the model set node i was registered with in this session.
func (s *session) setRegistered(i int, adv []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.registered == nil {
		s.registered = map[int][]string{}
	}
	s.registered[i] = slices.Sorted(slices.Values(adv))
}

// applyNode records one node's discovery (and check, when checked) results, registers the node when
// this is the session's first registration or its model set really changed (see
// reregister), and returns the models it advertises. A failed discovery keeps the
// models known before (none on a session's first registration).
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
	if first || s.reregister(i, adv) {
		if err := s.conn.Register(ctx, registration(n, adv)); err != nil {
			s.log.Warn("node registration failed", "tag", "node", "node", n.cfg.Alias, "err", err)
		} else {
			s.setRegistered(i, adv)
			s.log.Info("node registered", "tag", "node", "node", n.cfg.Alias, "models", len(adv), "capacity", n.cfg.Capacity, "region", n.cfg.Region)
		}
	}
	return adv
}

// reregister reports whether a refresh should re-register node i, which makes the
// gateway interview it again: only when its model set (order aside) differs from the
// one registered and the same new set was already seen on the previous refresh. A
// model that LM Studio loads just in time, or a list that flaps for one refresh, does
// not bring an interview; the union re-assertion still carries it at once.
func (s *session) reregister(i int, adv []string) bool {
	set := slices.Compact(slices.Sorted(slices.Values(adv)))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[int][]string{}
	}
	if slices.Equal(set, s.registered[i]) {
		delete(s.pending, i)
		return false
	}
	if slices.Equal(set, s.pending[i]) {
		delete(s.pending, i)
		return true
	}
	s.pending[i] = set
	s.log.Debug("node's models changed; re-registering if the change persists", "tag", "node", "node", s.e.nodes[i].cfg.Alias, "models", set)
	return false
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
