package app

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
)

// syntheticSource is the Activity view's source under EnvScreenshotActivity: a
// plausible week of three nodes' jobs (busy afternoons, quiet nights and weekends, a
// laptop that serves in the evenings, and a four-hour outage of one node three days
// ago), the same on every read for the same hours. Developers' hook for the
// screenshots only; the real source is the engine's ledger.
type syntheticSource struct{ now func() time.Time }

func (s syntheticSource) Activity(_ context.Context, span time.Duration) (ledger.Activity, error) {
	now := s.now()
	return summarize(syntheticReceipts(now.Add(-span), now), now.Add(-span), now, time.Local), nil
}

// synthNode is one synthetic node's habits.
type synthNode struct {
	alias      string
	model      string
	peak       float64 // jobs per hour at the busiest time
	tps, ttft  float64 // tokens/s and TTFT (ms), typical
	price      float64
	fromH, toH int // local hours it serves, [fromH, toH)
}

var synthNodes = []synthNode{
	{"workstation", "llama3.1:8b", 26, 84, 230, 0.002, 0, 24},
	{"gpu-box", "qwen3:14b", 15, 46, 560, 0.003, 0, 24},
	{"laptop", "qwen3:4b", 6, 21, 1250, 0.001, 18, 24},
}

// syntheticReceipts are the receipts of [from, to), hour by hour, each hour from its
// own seed so that a later read shows the same past.
func syntheticReceipts(from, to time.Time) []ledger.Receipt {
	var out []ledger.Receipt
	outage := startOfDay(to.In(time.Local)).AddDate(0, 0, -3).Add(9 * time.Hour)
	for h := from.Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		lh := h.In(time.Local)
		hod := float64(lh.Hour())
		load := 0.12 + 0.88*math.Exp(-math.Pow((hod-15)/4.5, 2))
		if wd := lh.Weekday(); wd == time.Saturday || wd == time.Sunday {
			load *= 0.55
		}
		for ni, n := range synthNodes {
			if lh.Hour() < n.fromH || lh.Hour() >= n.toH {
				continue
			}
			r := rand.New(rand.NewPCG(uint64(h.Unix()), uint64(ni)))
			down := n.alias == "gpu-box" && !h.Before(outage) && h.Before(outage.Add(4*time.Hour))
			jobs := int(math.Round(n.peak * load * (0.75 + 0.5*r.Float64())))
			if down {
				if h.Equal(outage) {
					jobs = 3 // the jobs running when the link went
				} else {
					continue
				}
			}
			for j := 0; j < jobs; j++ {
				t := h.Add(time.Duration(r.Int64N(int64(time.Hour))))
				if !t.Before(to) || t.Before(from) {
					continue
				}
				rc := ledger.Receipt{Time: t.UTC(), RequestID: "synthetic", Node: n.alias, Model: n.model, Kind: ledger.KindChat,
					Outcome: ledger.OutcomeOK, PricePer1K: n.price}
				switch x := r.Float64(); {
				case down:
					rc.Outcome, rc.Reason = ledger.OutcomeLinkLost, "the gateway link dropped"
				case x < 0.02:
					rc.Outcome, rc.Reason = ledger.OutcomeBusy, "all slots busy"
				case x < 0.035:
					rc.Outcome, rc.Reason = ledger.OutcomeTimeout, "no first token within 60s"
				case x < 0.045:
					rc.Outcome, rc.Reason = ledger.OutcomeBackendError, "backend answered 500"
				case x < 0.055:
					rc.Outcome, rc.Reason = ledger.OutcomeCancelled, "the consumer went away"
				}
				if rc.Outcome == ledger.OutcomeOK {
					rc.PromptTokens = 120 + r.Int64N(800)
					rc.CompletionTokens = 150 + r.Int64N(1100)
					rc.TokensPerSec = n.tps * (0.88 + 0.24*r.Float64())
					rc.TTFT = time.Duration(n.ttft*(0.8+0.4*r.Float64())) * time.Millisecond
					rc.Duration = rc.TTFT + time.Duration(float64(rc.CompletionTokens)/rc.TokensPerSec*float64(time.Second))
					rc.Earnings = float64(rc.PromptTokens+rc.CompletionTokens) / 1000 * rc.PricePer1K
				}
				out = append(out, rc)
			}
		}
	}
	return out
}

// summarize buckets receipts into the Activity of the window [from, to): hours
// (empty ones included), local days, per-node hourly means of ok chat jobs, and
// outcomes.
func summarize(recs []ledger.Receipt, from, to time.Time, loc *time.Location) ledger.Activity {
	a := ledger.Activity{From: from, To: to, Nodes: map[string][]ledger.NodePoint{}, Outcomes: map[string]int{}}
	hour0 := from.Truncate(time.Hour)
	for h := hour0; h.Before(to); h = h.Add(time.Hour) {
		a.Hourly = append(a.Hourly, ledger.Bucket{Start: h})
	}
	day0 := startOfDay(from.In(loc))
	for d := day0; d.Before(to); d = d.AddDate(0, 0, 1) {
		a.Daily = append(a.Daily, ledger.Bucket{Start: d})
	}
	type acc struct {
		jobs      int
		tps, ttft float64
	}
	perNode := map[string]map[int64]*acc{} // node → hour (Unix) → sums
	for _, r := range recs {
		if r.Time.Before(from) || !r.Time.Before(to) {
			continue
		}
		a.Outcomes[r.Outcome]++
		tokens := r.PromptTokens + r.CompletionTokens
		if i := int(r.Time.Sub(hour0) / time.Hour); i >= 0 && i < len(a.Hourly) {
			a.Hourly[i].Jobs++
			a.Hourly[i].Tokens += tokens
			a.Hourly[i].Earnings += r.Earnings
		}
		for i := len(a.Daily) - 1; i >= 0; i-- {
			if !r.Time.Before(a.Daily[i].Start) {
				a.Daily[i].Jobs++
				a.Daily[i].Tokens += tokens
				a.Daily[i].Earnings += r.Earnings
				break
			}
		}
		if r.Outcome != ledger.OutcomeOK || r.Kind != ledger.KindChat {
			continue
		}
		h := r.Time.Truncate(time.Hour).Unix()
		m := perNode[r.Node]
		if m == nil {
			m = map[int64]*acc{}
			perNode[r.Node] = m
		}
		x := m[h]
		if x == nil {
			x = &acc{}
			m[h] = x
		}
		x.jobs++
		x.tps += r.TokensPerSec
		x.ttft += float64(r.TTFT)
	}
	for node, m := range perNode {
		for h := hour0; h.Before(to); h = h.Add(time.Hour) {
			if x := m[h.Unix()]; x != nil {
				a.Nodes[node] = append(a.Nodes[node], ledger.NodePoint{Start: h, Jobs: x.jobs,
					TokensPerSec: x.tps / float64(x.jobs), TTFT: time.Duration(x.ttft / float64(x.jobs))})
			}
		}
	}
	return a
}
