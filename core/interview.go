package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
)

// startInterview runs a quality interview off the loops (L9). Interviews take no -n
// permit (§8.3), run their prompts in order, uncapped (L8), and measure a real TTFT from
// the stream (the original sent total/2, G10).
// While draining none starts: a partial or failed INTERVIEW_RESULT would grade the node
// failed and bring a cooldown. One already running finishes (its timeout bounds it) and
// is submitted whole; one cut by the end of the grace period is not submitted.
func (s *session) startInterview(m *protocol.InterviewRequest) {
	n := s.interviewNode(m)
	if s.draining.Load() {
		s.log.Info("interview not started: going offline", "tag", "interview", "node", n.cfg.Alias, "interview_id", m.InterviewID)
		return
	}
	s.log.Info("interview started", "tag", "interview", "node", n.cfg.Alias, "model", m.Model, "prompts", len(m.Prompts), "interview_id", m.InterviewID)
	rep := newPending(KindInterview, m.InterviewID)
	rep.setNode(n, m.Model)
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer func() {
			if r := recover(); r != nil { // a bug must not take the daemon down
				s.log.Error("interview crashed; please report this bug", "tag", "interview", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				s.observe(rep, errInterviewCrashed, errInterviewCrashed.Error()) // no-op when reported already
			}
		}()
		ctx := s.jobsCtx
		if m.TimeoutMs > 0 { // the gateway stops waiting then; so do we (G10)
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(m.TimeoutMs)*time.Millisecond)
			defer cancel()
		}
		res := &protocol.InterviewResult{InterviewID: m.InterviewID, Model: m.Model, Results: make([]protocol.PromptResult, 0, len(m.Prompts))}
		for _, p := range m.Prompts {
			r := s.interviewPrompt(ctx, n, m.Model, p)
			res.Results = append(res.Results, r)
			if r.Error != "" {
				s.log.Warn("interview prompt failed", "tag", "interview", "node", n.cfg.Alias, "prompt", p.ID, "err", r.Error)
			} else {
				s.log.Info("interview prompt answered", "tag", "interview", "node", n.cfg.Alias, "prompt", p.ID,
					"ttft_ms", r.TTFTMs, "total_ms", r.TotalMs, "tokens", r.TokensGenerated)
			}
		}
		if s.jobsCtx.Err() != nil {
			s.log.Warn("interview cut short by shutdown; not submitted", "tag", "interview", "node", n.cfg.Alias, "interview_id", m.InterviewID)
			s.observe(rep, context.Canceled, "cut short by shutdown; not submitted")
			return
		}
		reason, err := interviewOutcome(ctx, s.linkCtx, res, rep)
		s.observe(rep, err, reason) // before the result: see Observer
		s.send(res)
	}()
}

var errInterviewCrashed = errors.New("internal error in pin-client while running the interview")

// interviewOutcome fills an interview's report from its results: tokens, the first
// prompt's TTFT, and the reason with its error (nil when every prompt was answered).
func interviewOutcome(ctx, linkCtx context.Context, res *protocol.InterviewResult, rep *pending) (reason string, err error) {
	for i, r := range res.Results {
		rep.CompletionTokens += max(0, r.TokensGenerated)
		if i == 0 && r.Error == "" {
			rep.TTFT = time.Duration(r.TTFTMs) * time.Millisecond
		}
		if r.Error != "" && reason == "" {
			reason = "prompt " + r.PromptID + ": " + r.Error
		}
	}
	switch {
	case reason == "":
		return "", nil
	case ctx.Err() == context.DeadlineExceeded:
		return reason, ctx.Err()
	case linkCtx.Err() != nil:
		return reason, context.Canceled
	}
	return reason, errors.New(reason)
}

func (s *session) interviewPrompt(ctx context.Context, n *node, model string, p protocol.Prompt) protocol.PromptResult {
	out := protocol.PromptResult{PromptID: p.ID}
	msgs, _ := json.Marshal([]map[string]string{{"role": "user", "content": p.Prompt}})
	ctx, cancel := context.WithTimeout(ctx, chatTimeout)
	defer cancel()
	start := time.Now()
	var first time.Duration
	res, err := n.backend.ChatStream(ctx, &backends.ChatRequest{Model: model, Messages: msgs}, func(backends.Delta) error {
		if first == 0 {
			first = max(time.Since(start), time.Nanosecond)
		}
		return nil
	})
	total := time.Since(start)
	out.TotalMs = total.Milliseconds()
	if err != nil {
		out.Error = s.wireError(err, chatTimeout)
		return out
	}
	if first == 0 {
		first = total
	}
	out.TTFTMs = first.Milliseconds()
	if len(res.Choices) > 0 {
		out.Response = res.Choices[0].Message.Content
	}
	if res.Usage != nil {
		out.TokensGenerated = res.Usage.CompletionTokens
	}
	return out
}

// interviewNode maps an interview to a node (G2): by the server id from
// REGISTER_NODE_ACK, then by alias, then by the model, then the first node.
func (s *session) interviewNode(m *protocol.InterviewRequest) *node {
	e := s.e
	if i := s.nodeIndexByServerID(m.NodeID); i >= 0 {
		return e.nodes[i]
	}
	for _, n := range e.nodes {
		if n.cfg.InterviewModel == m.Model && m.Model != "" {
			return n
		}
	}
	for _, n := range e.nodes {
		if n.hasModel(m.Model) {
			return n
		}
	}
	return e.nodes[0]
}

// nodeIndexByServerID maps a gateway node id (REGISTER_NODE_ACK) to a node, falling back
// to the id as an alias; -1 when neither matches.
func (s *session) nodeIndexByServerID(id string) int {
	s.mu.Lock()
	i, ok := s.serverIDs[id]
	s.mu.Unlock()
	if ok {
		return i
	}
	return s.nodeByAlias(id)
}

var tierWords = map[string]string{
	"verified": "top routing priority",
	"standard": "normal routing",
	"slow":     "budget routing only: faster hardware or a smaller model earns more",
	"failed":   "blocked: the gateway will close the connection; run `pin-clientd selftest` to see why",
}

func (s *session) interviewComplete(m *protocol.InterviewComplete) {
	words := tierWords[m.Tier]
	if words == "" {
		words = "unknown tier"
	}
	note := fmt.Sprintf("tier %s (%s): accuracy %.0f%%, %.1f tok/s", m.Tier, words, m.Accuracy, m.TokensPerSec)
	if m.Reason != "" {
		note += "; " + m.Reason
	}
	if i := s.nodeIndexByServerID(m.NodeID); i >= 0 {
		s.e.updateNode(i, func(ns *NodeStatus) {
			ns.Tier, ns.Accuracy, ns.TokensPerSec, ns.InterviewAt, ns.InterviewNote = m.Tier, m.Accuracy, m.TokensPerSec, time.Now(), note
		})
	}
	lvl := s.log.Info
	if m.Tier == "failed" {
		lvl = s.log.Error
	}
	lvl("interview complete", "tag", "interview", "node_id", m.NodeID, "tier", m.Tier,
		"accuracy_pct", m.Accuracy, "tokens_per_sec", m.TokensPerSec, "meaning", words, "reason", m.Reason)
}

func (s *session) interviewFailed(m *protocol.InterviewFailed) {
	var b strings.Builder
	b.WriteString("interview failed")
	if m.Reason != "" {
		fmt.Fprintf(&b, " (%s)", m.Reason)
	}
	if m.Message != "" {
		fmt.Fprintf(&b, ": %s", m.Message)
	}
	if len(m.RequiredModels) > 0 {
		fmt.Fprintf(&b, "; provide one of %s (e.g. `ollama pull %s`) or set interviewModel",
			strings.Join(m.RequiredModels, ", "), m.RequiredModels[0])
	}
	var retry time.Duration
	if m.RetryAfterSeconds != nil {
		retry = maxRetryAfter // a larger value is a gateway bug (or would overflow)
		if secs := *m.RetryAfterSeconds; secs < uint64(maxRetryAfter/time.Second) {
			retry = time.Duration(secs) * time.Second
		}
		fmt.Fprintf(&b, "; the gateway allows a retry in %s", retry.Round(time.Second))
	}
	note := b.String()
	s.mu.Lock()
	s.retryAfter = max(s.retryAfter, retry)
	s.note = note
	s.mu.Unlock()
	if i := s.nodeIndexByServerID(m.NodeID); i >= 0 {
		s.e.updateNode(i, func(ns *NodeStatus) {
			ns.Tier, ns.InterviewAt, ns.InterviewNote = "failed", time.Now(), note
		})
	}
	s.log.Error("interview failed", "tag", "interview", "node_id", m.NodeID, "reason", m.Reason,
		"required_models", m.RequiredModels, "retry_after", retry, "message", m.Message)
}
