package ledger

import (
	"time"

	"github.com/pin-client/pin-client/core"
)

// Observer returns the core.Observer that records each job report of the operator
// clientID as a receipt (Store.Record: it waits for the commit, at most CommitWait).
// A nil Store gives an observer that records nothing.
func (s *Store) Observer(clientID string) core.Observer {
	return observer{s: s, clientID: clientID}
}

type observer struct {
	s        *Store
	clientID string
}

func (o observer) JobDone(r core.JobReport) {
	if o.s == nil {
		return
	}
	rc := FromReport(r, o.s.now())
	rc.ClientID = o.clientID
	o.s.Record(rc)
}

// FromReport is the receipt of a job report, finished at t.
func FromReport(r core.JobReport, t time.Time) Receipt {
	rc := Receipt{
		Time: t.UTC(), RequestID: r.RequestID, Node: r.Node, Model: r.Model, Kind: r.Kind,
		Outcome: r.Outcome, Reason: r.Reason,
		PromptTokens: int64(max(0, r.PromptTokens)), CompletionTokens: int64(max(0, r.CompletionTokens)),
		TTFT: r.TTFT, Duration: r.Duration, PricePer1K: r.Price,
	}
	if r.Outcome == core.OutcomeError {
		rc.Outcome = OutcomeBackendError
	}
	gen := r.Duration
	if r.TTFT > 0 && r.TTFT < r.Duration {
		gen = r.Duration - r.TTFT
	}
	if rc.CompletionTokens > 0 && gen > 0 {
		rc.TokensPerSec = float64(rc.CompletionTokens) / gen.Seconds()
	}
	if rc.Outcome == OutcomeOK && rc.Kind != KindInterview {
		rc.Earnings = float64(rc.PromptTokens+rc.CompletionTokens) / 1000 * r.Price
	}
	return rc
}
