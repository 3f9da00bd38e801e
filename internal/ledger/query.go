package ledger

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

const selectSQL = `SELECT time_ns, client_id, request_id, node, model, kind, outcome, reason,
	prompt_tokens, completion_tokens, ttft_ns, duration_ns, tokens_per_sec, price_per_1k, earnings FROM receipts`

// MaxSpan bounds the window of Activity.
const MaxSpan = 400 * 24 * time.Hour

// Jobs lists the receipts f selects, newest first.
func (s *Store) Jobs(ctx context.Context, f Filter) ([]Receipt, error) {
	if s == nil {
		return nil, ErrOff
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, "time_ns >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time_ns < ?"), append(args, f.Until.UnixNano())
	}
	if f.Node != "" {
		where, args = append(where, "node = ?"), append(args, f.Node)
	}
	if f.Model != "" {
		where, args = append(where, "model = ?"), append(args, f.Model)
	}
	if f.ClientID != "" {
		where, args = append(where, "client_id = ?"), append(args, f.ClientID)
	}
	q := selectSQL
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time_ns DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	out := []Receipt{}
	for rows.Next() {
		var r Receipt
		var t, ttft, dur int64
		if err := rows.Scan(&t, &r.ClientID, &r.RequestID, &r.Node, &r.Model, &r.Kind, &r.Outcome, &r.Reason,
			&r.PromptTokens, &r.CompletionTokens, &ttft, &dur, &r.TokensPerSec, &r.PricePer1K, &r.Earnings); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		r.Time, r.TTFT, r.Duration = time.Unix(0, t).UTC(), time.Duration(ttft), time.Duration(dur)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return out, nil
}

// CheckBy returns an error naming the valid groupings when by is not one of them.
func CheckBy(by string) error {
	switch by {
	case ByDay, ByNode, ByModel:
		return nil
	}
	return fmt.Errorf("--by %q: want day, node or model", by)
}

// Earnings groups the receipts since since by local day, node or model: days oldest
// first, nodes and models by earnings, highest first.
func (s *Store) Earnings(ctx context.Context, by string, since time.Time) ([]Earning, error) {
	return s.earnings(ctx, by, Filter{Since: since})
}

func (s *Store) earnings(ctx context.Context, by string, f Filter) ([]Earning, error) {
	if err := CheckBy(by); err != nil {
		return nil, err
	}
	rs, err := s.Jobs(ctx, f)
	if err != nil {
		return nil, err
	}
	return GroupEarnings(rs, by, s.location()), nil
}

func (s *Store) location() *time.Location {
	if s == nil || s.loc == nil {
		return time.Local
	}
	return s.loc
}

// GroupEarnings groups receipts as Earnings does (days in loc).
func GroupEarnings(rs []Receipt, by string, loc *time.Location) []Earning {
	idx := map[string]int{}
	out := []Earning{}
	for _, r := range rs {
		var k string
		switch by {
		case ByDay:
			k = r.Time.In(loc).Format(time.DateOnly)
		case ByNode:
			k = r.Node
		default:
			k = r.Model
		}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Earning{Key: k})
		}
		e := &out[i]
		e.Jobs++
		if r.Outcome == OutcomeOK {
			e.OK++
		}
		e.PromptTokens += r.PromptTokens
		e.CompletionTokens += r.CompletionTokens
		e.Earnings += r.Earnings
	}
	sort.SliceStable(out, func(i, j int) bool {
		if by == ByDay {
			return out[i].Key < out[j].Key
		}
		if out[i].Earnings != out[j].Earnings {
			return out[i].Earnings > out[j].Earnings
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Activity is the Activity view of the span ending now (at most MaxSpan).
func (s *Store) Activity(ctx context.Context, span time.Duration) (Activity, error) {
	return s.activity(ctx, span, "")
}

func (s *Store) activity(ctx context.Context, span time.Duration, clientID string) (Activity, error) {
	if s == nil {
		return Activity{}, ErrOff
	}
	if span <= 0 || span > MaxSpan {
		return Activity{}, fmt.Errorf("activity span %s: want more than 0 and at most %s", span, MaxSpan)
	}
	now := s.now()
	from := now.Add(-span)
	hour0 := from.Truncate(time.Hour)
	lf := from.In(s.location())
	day0 := time.Date(lf.Year(), lf.Month(), lf.Day(), 0, 0, 0, 0, s.location())
	since := hour0
	if day0.Before(since) {
		since = day0
	}
	rs, err := s.Jobs(ctx, Filter{Since: since, ClientID: clientID})
	if err != nil {
		return Activity{}, err
	}
	return BuildActivity(rs, from, now, s.location()), nil
}

// BuildActivity computes the Activity of the window [from, to] from its receipts (any
// order; receipts outside the buckets are ignored). Days are local days in loc.
func BuildActivity(rs []Receipt, from, to time.Time, loc *time.Location) Activity {
	a := Activity{From: from.UTC(), To: to.UTC(), Hourly: []Bucket{}, Daily: []Bucket{}, Nodes: map[string][]NodePoint{}, Outcomes: map[string]int{}}
	hour0 := from.Truncate(time.Hour)
	for t := hour0; !t.After(to); t = t.Add(time.Hour) {
		a.Hourly = append(a.Hourly, Bucket{Start: t.UTC()})
	}
	lf := from.In(loc)
	for d := time.Date(lf.Year(), lf.Month(), lf.Day(), 0, 0, 0, 0, loc); !d.After(to); d = d.AddDate(0, 0, 1) {
		a.Daily = append(a.Daily, Bucket{Start: d})
	}
	type acc struct {
		tps, ttft   float64
		n, streamed int
	}
	nodes := map[string]map[int]*acc{}
	add := func(b *Bucket, r Receipt) {
		b.Jobs++
		b.Tokens += r.PromptTokens + r.CompletionTokens
		b.Earnings += r.Earnings
	}
	for _, r := range rs {
		if r.Time.After(to) {
			continue
		}
		if i := int(r.Time.Sub(hour0) / time.Hour); r.Time.Compare(hour0) >= 0 && i < len(a.Hourly) {
			add(&a.Hourly[i], r)
			if r.Outcome == OutcomeOK && r.Kind == KindChat {
				m := nodes[r.Node]
				if m == nil {
					m = map[int]*acc{}
					nodes[r.Node] = m
				}
				x := m[i]
				if x == nil {
					x = &acc{}
					m[i] = x
				}
				x.n++
				x.tps += r.TokensPerSec
				if r.TTFT > 0 {
					x.streamed++
					x.ttft += float64(r.TTFT)
				}
			}
		}
		if !r.Time.Before(from) {
			a.Outcomes[r.Outcome]++
		}
		if n := len(a.Daily); n > 0 && !r.Time.Before(a.Daily[0].Start) {
			// the day index: count local midnights (DST-safe, unlike dividing by 24 h)
			lt := r.Time.In(loc)
			d := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
			i := sort.Search(n, func(i int) bool { return !a.Daily[i].Start.Before(d) })
			if i < n && a.Daily[i].Start.Equal(d) {
				add(&a.Daily[i], r)
			}
		}
	}
	for node, m := range nodes {
		pts := make([]NodePoint, 0, len(m))
		for i, x := range m {
			p := NodePoint{Start: a.Hourly[i].Start, Jobs: x.n, TokensPerSec: x.tps / float64(x.n)}
			if x.streamed > 0 {
				p.TTFT = time.Duration(x.ttft / float64(x.streamed))
			}
			pts = append(pts, p)
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].Start.Before(pts[j].Start) })
		a.Nodes[node] = pts
	}
	return a
}

// Client is the ledger as one operator's engine shows it: only the receipts of the jobs
// clientID served. Engines of several operators may share a state directory, and so a
// ledger; each shows its own operator's jobs and earnings. An empty clientID is every
// receipt.
func (s *Store) Client(clientID string) Source {
	if clientID == "" {
		return s
	}
	return clientView{s: s, id: clientID}
}

type clientView struct {
	s  *Store
	id string
}

func (v clientView) Jobs(ctx context.Context, f Filter) ([]Receipt, error) {
	f.ClientID = v.id
	return v.s.Jobs(ctx, f)
}

func (v clientView) Earnings(ctx context.Context, by string, since time.Time) ([]Earning, error) {
	return v.s.earnings(ctx, by, Filter{Since: since, ClientID: v.id})
}

func (v clientView) Activity(ctx context.Context, span time.Duration) (Activity, error) {
	return v.s.activity(ctx, span, v.id)
}
