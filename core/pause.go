package core

import (
	"context"
	"slices"
	"time"
)

// ReasonPausedByYou is the PauseReason of a pause asked for through Controller.Pause.
const ReasonPausedByYou = "paused by you"

// Pause gives the machine back to its owner until until (zero: until Resume): running
// jobs drain and are answered, the nodes are withdrawn from the gateway's routing (see
// withdraw), the link closes, and at until the engine reconnects and registers again by
// itself. It returns at once; Status shows Paused, Draining, then Offline.
func (e *Engine) Pause(until time.Time) {
	e.mu.Lock()
	if e.pauseTimer != nil {
		e.pauseTimer.Stop()
		e.pauseTimer = nil
	}
	if !until.IsZero() {
		e.pauseTimer = time.AfterFunc(time.Until(until), func() {
			e.mu.Lock()
			e.pauseTimer = nil
			e.mu.Unlock()
			e.SetPause(false, "", time.Time{})
		})
	}
	e.mu.Unlock()
	e.SetPause(true, ReasonPausedByYou, until)
}

// Resume ends a pause: the engine reconnects (if the operator wants it online).
func (e *Engine) Resume() {
	e.mu.Lock()
	if e.pauseTimer != nil {
		e.pauseTimer.Stop()
		e.pauseTimer = nil
	}
	e.mu.Unlock()
	e.SetPause(false, "", time.Time{})
}

// SetPause is the mechanism behind every pause (by hand, the schedule, a busy machine):
// internal/owner decides, the engine only obeys. Paused, the engine drains and goes
// offline without forgetting that the operator wants it online; unpaused, it connects
// again if it is meant to be online. reason and until are shown in Status.
func (e *Engine) SetPause(paused bool, reason string, until time.Time) {
	e.mu.Lock()
	was := e.paused.Load()
	e.paused.Store(paused) // under mu: Run re-checks serving() there before storing sv
	if paused && e.sv != nil {
		e.sv()
	}
	if !paused {
		reason, until = "", time.Time{}
	}
	e.st.Paused, e.st.PauseReason, e.st.PausedUntil = paused, reason, until
	e.publishLocked()
	e.mu.Unlock()
	switch {
	case paused && until.IsZero():
		e.log.Info("paused: draining running jobs, then offline until resumed", "tag", "owner", "reason", reason)
	case paused:
		e.log.Info("paused: draining running jobs, then offline", "tag", "owner", "reason", reason, "until", until.Local().Format("Mon 15:04"))
	case was:
		e.log.Info("resumed: reconnecting", "tag", "owner")
	}
	e.poke()
}

// serving reports whether the engine should be connected: the operator wants it online
// and the owner has not paused it.
func (e *Engine) serving() bool { return e.wantOnline.Load() && !e.paused.Load() }

// withdraw asks the gateway to stop routing jobs to this operator while it drains. The
// protocol has no deregister message (pin-protocol.md §4.3.3–4.3.4); what it does have
// is registration by alias ("update if it exists", and a node whose discovery failed is
// registered with models: [], which triggers no interview) and the model-index repair
// (MODEL_LIST on WS, X-PIN-Models on SSE). So every node registered in this session is
// registered again with no models, and an empty model list is re-asserted. Jobs the
// gateway still sends are refused with errDraining (answered, never lost).
func (s *session) withdraw(ctx context.Context) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	idx := make([]int, 0, len(s.registered))
	for i := range s.registered {
		idx = append(idx, i)
	}
	s.mu.Unlock()
	slices.Sort(idx)
	for _, i := range idx {
		n := s.e.nodes[i]
		if err := s.conn.Register(ctx, registration(n, []string{})); err != nil {
			s.log.Warn("could not withdraw node from routing", "tag", "node", "node", n.cfg.Alias, "err", err)
		}
	}
	if err := s.conn.AdvertiseModels(ctx, []string{}); err != nil {
		s.log.Warn("could not withdraw the model list", "tag", "node", "err", err)
	}
	s.log.Info("withdrawn from routing while draining: nodes re-registered with no models", "tag", "node", "nodes", len(idx))
}
