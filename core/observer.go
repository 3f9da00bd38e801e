package core

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/core/transport"
)

// Observer receives one report per finished job and interview (Options.Observer; the
// metrics exporter and the job ledger are two: Observers fans out to both). It is called
// once per job from the job's own goroutine (or, for a job refused before it ran, from
// the session's reader) just BEFORE its terminal answer leaves the process, never on the
// per-token path. It may block only briefly: the ledger waits for its receipt to be
// committed, so a job the gateway saw finish is on disk, bounded by about a second.
type Observer interface {
	JobDone(JobReport)
}

// Observers calls each of its observers in turn (nil ones skipped).
type Observers []Observer

// JobDone reports r to every observer, in order.
func (os Observers) JobDone(r JobReport) {
	for _, o := range os {
		if o != nil {
			o.JobDone(r)
		}
	}
}

// JobReport is one finished job or interview.
type JobReport struct {
	RequestID   string // the job's request_id, or the interview's interview_id
	Node, Model string // the node's alias and the requested model; empty when not known (payload invalid)
	Kind        string // "chat", "tts" or "interview"
	// Outcome is "ok", "error", "busy" (refused: the wait queue was full), "timeout" (the
	// job's deadline passed), "cancelled" (by the gateway, or cut by the engine's
	// shutdown) or "link_lost" (the gateway link went away mid-job).
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
	OutcomeLinkLost  = "link_lost"
)

// pending is a job's report, filled in as the job goes and sent at most once.
type pending struct {
	JobReport
	start time.Time
	sent  atomic.Bool
}

func newPending(kind, id string) *pending {
	return &pending{JobReport: JobReport{Kind: kind, RequestID: id}, start: time.Now()}
}

// setNode records where the job runs.
func (p *pending) setNode(n *node, model string) {
	p.Node, p.Model, p.Price = n.cfg.Alias, model, n.cfg.Price()
}

// observe sends p to the observer once; err (nil for ok) sets the outcome and reason is
// the one line the gateway was told. Callers report before the terminal answer is sent.
func (s *session) observe(p *pending, err error, reason string) {
	s.e.observe(p, err, reason, s.linkCtx.Err() != nil)
}

func (e *Engine) observe(p *pending, err error, reason string, linkLost bool) {
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
	case errors.Is(err, errCanceled):
		r.Outcome = OutcomeCancelled
	case linkLost, errors.Is(err, transport.ErrClosed): // as wireError tells it: "gateway link lost mid-job"
		r.Outcome = OutcomeLinkLost
	case errors.Is(err, context.Canceled):
		r.Outcome = OutcomeCancelled
	default:
		r.Outcome = OutcomeError
	}
	if err != nil {
		r.Reason = reason
	}
	e.opts.Observer.JobDone(r)
}
