package main

import (
	"slices"
	"time"
)

// percentile is the nearest-rank q-quantile (0 < q ≤ 1) of ds; 0 for none.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(q*float64(len(s)) + 0.999999) // ceil without float surprises at exact ranks
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// throughput is tokens per second over the whole run: all tokens received, from the
// first request sent to the last [DONE] parsed.
func throughput(rs []streamResult) (tokens int, perSec float64) {
	if len(rs) == 0 {
		return 0, 0
	}
	start, end := rs[0].Start, rs[0].End
	for _, r := range rs {
		tokens += r.Tokens
		start = min(start, r.Start)
		end = max(end, r.End)
	}
	if end <= start {
		return tokens, 0
	}
	return tokens, float64(tokens) / time.Duration(end-start).Seconds()
}

func ttfts(rs []streamResult) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.ttft()
	}
	return out
}

// legs returns the request and response legs of the streams whose fake timestamps are
// known.
func legs(rs []streamResult) (req, resp []time.Duration) {
	for _, r := range rs {
		if r.BackendIn > 0 && r.BackendFirst > 0 {
			req = append(req, r.requestLeg())
			resp = append(resp, r.responseLeg())
		}
	}
	return req, resp
}
