package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
)

// MaxJobs bounds the receipts one GET /v1/jobs returns (limit=0 asks for this many).
const MaxJobs = 50000

const maxLedgerBody = 64 << 20 // a /v1/jobs answer of MaxJobs receipts

var _ ledger.Source = (*Client)(nil)

// ledgerRoutes adds the job ledger's endpoints (docs/ledger.md). They are served when
// the Engine also is a ledger.Source (internal/host.Host); otherwise they answer 503.
func (s *Server) ledgerRoutes(p string) {
	s.routes[p+"jobs"] = route{http.MethodGet, s.serveJobs}
	s.routes[p+"earnings"] = route{http.MethodGet, s.serveEarnings}
	s.routes[p+"activity"] = route{http.MethodGet, s.serveActivity}
}

func (s *Server) ledger(w http.ResponseWriter) ledger.Source {
	l, ok := s.eng.(ledger.Source)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "this engine keeps no job ledger")
	}
	return l
}

func ledgerError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ledger.ErrOff) {
		code = http.StatusServiceUnavailable
	}
	writeError(w, code, err.Error())
}

// timeParam parses an RFC 3339 time parameter ("" → zero).
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: want an RFC 3339 time such as 2026-12-01T00:00:00Z", name, clip(v))
	}
	return t, nil
}

func (s *Server) serveJobs(w http.ResponseWriter, r *http.Request) {
	l := s.ledger(w)
	if l == nil {
		return
	}
	q := r.URL.Query()
	var f ledger.Filter
	var err error
	if f.Since, err = timeParam(q, "since"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.Node, f.Model = q.Get("node"), q.Get("model")
	f.Limit = MaxJobs
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: want a whole number of 0 or more (0: up to %d)", clip(v), MaxJobs))
			return
		}
		if n > 0 && n < MaxJobs {
			f.Limit = n
		}
	}
	rs, err := l.Jobs(r.Context(), f)
	if err != nil {
		ledgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *Server) serveEarnings(w http.ResponseWriter, r *http.Request) {
	l := s.ledger(w)
	if l == nil {
		return
	}
	q := r.URL.Query()
	by := q.Get("by")
	if by == "" {
		by = ledger.ByDay
	}
	if err := ledger.CheckBy(by); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("by=%q: want day, node or model", clip(by)))
		return
	}
	since, err := timeParam(q, "since")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	es, err := l.Earnings(r.Context(), by, since)
	if err != nil {
		ledgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, es)
}

func (s *Server) serveActivity(w http.ResponseWriter, r *http.Request) {
	l := s.ledger(w)
	if l == nil {
		return
	}
	span := 24 * time.Hour
	if v := r.URL.Query().Get("span"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > ledger.MaxSpan {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("span=%q: want a duration such as 24h or 168h, at most %s", clip(v), ledger.MaxSpan))
			return
		}
		span = d
	}
	a, err := l.Activity(r.Context(), span)
	if err != nil {
		ledgerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// ---- client ----

// Jobs lists the engine's receipts f selects, newest first (GET /v1/jobs; at most
// MaxJobs).
func (c *Client) Jobs(ctx context.Context, f ledger.Filter) ([]ledger.Receipt, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Node != "" {
		q.Set("node", f.Node)
	}
	if f.Model != "" {
		q.Set("model", f.Model)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var rs []ledger.Receipt
	err := c.getLedger(ctx, "jobs", q, &rs)
	return rs, err
}

// Earnings groups the engine's receipts since since by ledger.ByDay, ByNode or ByModel
// (GET /v1/earnings).
func (c *Client) Earnings(ctx context.Context, by string, since time.Time) ([]ledger.Earning, error) {
	q := url.Values{"by": {by}}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	var es []ledger.Earning
	err := c.getLedger(ctx, "earnings", q, &es)
	return es, err
}

// Activity is the engine's Activity view of the span ending now (GET /v1/activity).
func (c *Client) Activity(ctx context.Context, span time.Duration) (ledger.Activity, error) {
	var a ledger.Activity
	err := c.getLedger(ctx, "activity", url.Values{"span": {span.String()}}, &a)
	return a, err
}

func (c *Client) getLedger(ctx context.Context, path string, q url.Values, v any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.getJSON(ctx, path, maxLedgerBody, v)
}
