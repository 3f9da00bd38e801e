// Package sampleweek makes a plausible week (or any span) of ledger receipts for
// developers: the seeding tool of the screenshots (scripts/seedledger) and the app's
// Activity view tests use it. Nothing shipped imports it.
//
// Three nodes serve: a workstation and a GPU box around the clock, busy in the
// afternoons, quiet at night and on weekends, and a laptop that serves only in the
// evenings. The GPU box loses its link for four hours three days before the end. Most
// jobs complete; a few are refused (busy), time out, fail in the backend or are
// cancelled. Each hour's jobs come from a generator seeded with that hour, so the same
// hours always hold the same receipts.
package sampleweek

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
)

// Node is one sample node's habits.
type Node struct {
	Alias      string
	Model      string
	Peak       float64 // jobs per hour at the busiest time of a weekday
	TPS, TTFT  float64 // typical tokens/s and time to first token (ms)
	Price      float64 // USD per 1K tokens
	FromH, ToH int     // local hours it serves, [FromH, ToH)
}

// Nodes are the sample nodes.
var Nodes = []Node{
	{"workstation", "llama3.1:8b", 26, 84, 230, 0.002, 0, 24},
	{"gpu-box", "qwen3:14b", 15, 46, 560, 0.003, 0, 24},
	{"laptop", "qwen3:4b", 6, 21, 1250, 0.001, 18, 24},
}

// OutageNode is the node whose link is down for OutageHours from 09:00 local, three
// days before the end of the span.
const (
	OutageNode  = "gpu-box"
	OutageHours = 4
)

// Receipts are the receipts of [from, to), oldest hour first; hours of day and days of
// the week are those of loc.
func Receipts(from, to time.Time, loc *time.Location) []ledger.Receipt {
	var out []ledger.Receipt
	lt := to.In(loc)
	outage := time.Date(lt.Year(), lt.Month(), lt.Day()-3, 9, 0, 0, 0, loc)
	for h := from.Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		lh := h.In(loc)
		hod := float64(lh.Hour())
		load := 0.12 + 0.88*math.Exp(-math.Pow((hod-15)/4.5, 2))
		if wd := lh.Weekday(); wd == time.Saturday || wd == time.Sunday {
			load *= 0.55
		}
		for ni, n := range Nodes {
			if lh.Hour() < n.FromH || lh.Hour() >= n.ToH {
				continue
			}
			r := rand.New(rand.NewPCG(uint64(h.Unix()), uint64(ni)))
			down := n.Alias == OutageNode && !h.Before(outage) && h.Before(outage.Add(OutageHours*time.Hour))
			jobs := int(math.Round(n.Peak * load * (0.75 + 0.5*r.Float64())))
			if down {
				if !h.Equal(outage) {
					continue
				}
				jobs = 3 // the jobs running when the link went
			}
			for range jobs {
				t := h.Add(time.Duration(r.Int64N(int64(time.Hour))))
				rc := job(r, n, t, down)
				if t.Before(to) && !t.Before(from) {
					out = append(out, rc)
				}
			}
		}
	}
	return out
}

// job is one receipt of node n that ended at t.
func job(r *rand.Rand, n Node, t time.Time, down bool) ledger.Receipt {
	rc := ledger.Receipt{Time: t.UTC(), RequestID: fmt.Sprintf("req_%016x", r.Uint64()), Node: n.Alias, Model: n.Model,
		Kind: ledger.KindChat, Outcome: ledger.OutcomeOK, PricePer1K: n.Price}
	ttft := time.Duration(n.TTFT*(0.8+0.4*r.Float64())) * time.Millisecond
	switch x := r.Float64(); {
	case down:
		rc.Outcome, rc.Reason = ledger.OutcomeLinkLost, "the gateway link went away mid-job"
		rc.PromptTokens, rc.TTFT, rc.Duration = 120+r.Int64N(800), ttft, ttft+time.Duration(r.Int64N(int64(10*time.Second)))
	case x < 0.02:
		rc.Outcome, rc.Reason = ledger.OutcomeBusy, "operator busy: 4 jobs already waiting for a free slot (limit 4)"
	case x < 0.035:
		rc.Outcome, rc.Reason = ledger.OutcomeTimeout, "no first token within 1m0s"
		rc.PromptTokens, rc.Duration = 120+r.Int64N(800), time.Minute
	case x < 0.045:
		rc.Outcome, rc.Reason = ledger.OutcomeBackendError, "backend answered 500 Internal Server Error"
		rc.PromptTokens, rc.Duration = 120+r.Int64N(800), time.Duration(50+r.Int64N(400))*time.Millisecond
	case x < 0.055:
		rc.Outcome, rc.Reason = ledger.OutcomeCancelled, "cancelled by the gateway"
		rc.PromptTokens, rc.TTFT, rc.Duration = 120+r.Int64N(800), ttft, ttft+time.Duration(r.Int64N(int64(5*time.Second)))
	default:
		rc.PromptTokens = 120 + r.Int64N(800)
		rc.CompletionTokens = 150 + r.Int64N(1100)
		rc.TokensPerSec = n.TPS * (0.88 + 0.24*r.Float64())
		rc.TTFT = ttft
		rc.Duration = ttft + time.Duration(float64(rc.CompletionTokens)/rc.TokensPerSec*float64(time.Second))
		rc.Earnings = float64(rc.PromptTokens+rc.CompletionTokens) / 1000 * rc.PricePer1K
	}
	return rc
}
