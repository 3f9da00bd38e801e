package core

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Observer receives one report per finished job and interview (Options.Observer; the
// metrics exporter is one). It is called once per job from the job's own goroutine (or,
// for a job refused before it ran, from the session's reader) after its terminal answer
// was queued, never on the per-token path. It must not block: implementations count and
// return.
type Observer interface {
	JobDone(JobReport)
}

// JobReport is one finished job or interview.
type JobReport struct {
	Node, Model string // the node's alias and the requested model; empty when not known (payload invalid)
	Kind        string // "chat", "tts" or "interview"
	// Outcome is "ok", "error", "busy" (refused: the wait queue was full), "timeout" (the
	// job's deadline passed) or "cancelled" (by the gateway, or the link went away).
	Outcome string
	Reason  string // one line for an outcome other than ok: what the gateway was told

	PromptTokens, CompletionTokens int
	// TTFT is the time from the job's arrival to its first streamed delta: zero when no
	// token was streamed (a failed job, a non-streaming chat, TTS). For an interview it is
	// the first prompt's TTFT.
	TTFT     time.Duration
	Duration time.Duration // arrival to terminal answer
	Price    float64       // USD per 1K tokens of the node
}

// Job kinds and outcomes of JobReport.
const (
	KindChat      = "chat"
	KindTTS       = "tts"
	KindInterview = "interview"

	OutcomeOK        = "ok"
	OutcomeError     = "error"
	OutcomeBusy      = "busy"
	OutcomeTimeout   = "timeout"
	OutcomeCancelled = "cancelled"
)

// pending is a job's report, filled in as the job goes and sent at most once.
type pending struct {
	JobReport
	start time.Time
	sent  atomic.Bool
}

func newPending(kind string) *pending {
	return &pending{JobReport: JobReport{Kind: kind}, start: time.Now()}
}

// setNode records where the job runs.
func (p *pending) setNode(n *node, model string) {
	p.Node, p.Model, p.Price = n.cfg.Alias, model, n.cfg.Price()
}

// observe sends p to the observer once; err (nil for ok) sets the outcome and reason is
// the one line the gateway was told.
func (e *Engine) observe(p *pending, err error, reason string) {
	if e.opts.Observer == nil || !p.sent.CompareAndSwap(false, true) {
		return
	}
	r := p.JobReport
	r.Duration = time.Since(p.start)
	switch {
	case err == nil:
		r.Outcome = OutcomeOK
	case errors.Is(err, errBusy):
		r.Outcome = OutcomeBusy
	case errors.Is(err, context.DeadlineExceeded):
		r.Outcome = OutcomeTimeout
	case errors.Is(err, errCanceled), errors.Is(err, context.Canceled):
		r.Outcome = OutcomeCancelled
	default:
		r.Outcome = OutcomeError
	}
	if err != nil {
		r.Reason = reason
	}
	e.opts.Observer.JobDone(r)
}
