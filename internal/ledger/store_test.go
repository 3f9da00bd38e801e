package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
)

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 12, 1, 12, 30, 0, 0, time.UTC)

func open(t *testing.T, o Options) *Store {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), FileName)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rc(t time.Time, id, node, outcome string, p, c int64) Receipt {
	r := Receipt{Time: t, RequestID: id, Node: node, Model: "llama3", Kind: KindChat, Outcome: outcome,
		PromptTokens: p, CompletionTokens: c, TTFT: 100 * time.Millisecond, Duration: time.Second, TokensPerSec: float64(c) / 0.9, PricePer1K: 0.002}
	if outcome == OutcomeOK {
		r.Earnings = float64(p+c) / 1000 * 0.002
	} else {
		r.Reason = "why: " + outcome
	}
	return r
}

func TestRecordAndJobs(t *testing.T) {
	s := open(t, Options{})
	want := []Receipt{
		rc(t0, "r1", "gpu-1", OutcomeOK, 10, 20),
		rc(t0.Add(time.Minute), "r2", "gpu-2", OutcomeBackendError, 0, 0),
		rc(t0.Add(2*time.Minute), "r3", "gpu-1", OutcomeOK, 5, 5),
	}
	for _, r := range want {
		s.Record(r) // waits for the commit
	}
	got, err := s.Jobs(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != want[2] || got[1] != want[1] || got[2] != want[0] {
		t.Fatalf("Jobs = %+v\nwant newest first %+v", got, want)
	}
	got, _ = s.Jobs(context.Background(), Filter{Node: "gpu-1", Since: t0.Add(time.Second), Limit: 5})
	if len(got) != 1 || got[0].RequestID != "r3" {
		t.Fatalf("Jobs(node gpu-1, since) = %+v", got)
	}
	got, _ = s.Jobs(context.Background(), Filter{Limit: 1})
	if len(got) != 1 || got[0].RequestID != "r3" {
		t.Fatalf("Jobs(limit 1) = %+v", got)
	}
	got, _ = s.Jobs(context.Background(), Filter{Until: t0.Add(time.Minute)})
	if len(got) != 1 || got[0].RequestID != "r1" {
		t.Fatalf("Jobs(until) = %+v", got)
	}
}

func TestCloseCommitsQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		s.Add(rc(t0.Add(time.Duration(i)*time.Second), "r", "n", OutcomeOK, 1, 1))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Record(rc(t0, "late", "n", OutcomeOK, 1, 1)) // after Close: dropped, no hang
	r := open(t, Options{Path: path, ReadOnly: true})
	got, err := r.Jobs(context.Background(), Filter{})
	if err != nil || len(got) != 100 {
		t.Fatalf("after Close: %d receipts, %v; want 100", len(got), err)
	}
	r.Record(rc(t0, "ro", "n", OutcomeOK, 1, 1)) // read-only: ignored
}

func TestNilStore(t *testing.T) {
	var s *Store
	s.Record(Receipt{})
	s.Observer("op").JobDone(core.JobReport{})
	if _, err := s.Jobs(context.Background(), Filter{}); err != ErrOff {
		t.Fatalf("nil Jobs err = %v", err)
	}
	if _, err := s.Activity(context.Background(), time.Hour); err != ErrOff {
		t.Fatalf("nil Activity err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionAndSizeCap(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, Options{Now: c.now, RetentionDays: 10, MaxBytes: 256 << 10})
	for d := range 20 { // one receipt a day for 20 days
		s.Record(rc(t0.AddDate(0, 0, d), "day", "n", OutcomeOK, 1, 1))
	}
	c.set(t0.AddDate(0, 0, 19).Add(time.Hour))
	if err := s.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Jobs(context.Background(), Filter{})
	if len(got) != 10 || got[len(got)-1].Time.Before(c.now().AddDate(0, 0, -10)) {
		t.Fatalf("after retention of 10 days: %d receipts, oldest %v", len(got), got[len(got)-1].Time)
	}

	// Size cap: far more than 256 KiB of receipts; the newest survive.
	long := strings.Repeat("x", 500)
	for i := range 3000 {
		r := rc(c.now().Add(time.Duration(i)*time.Millisecond), "big", "n", OutcomeBackendError, 0, 0)
		r.Reason = long
		s.Add(r)
	}
	s.Record(rc(c.now().Add(time.Hour), "newest", "n", OutcomeOK, 1, 1))
	if used, _ := s.usedBytes(context.Background()); used <= 256<<10 {
		t.Fatalf("test wrote only %d bytes; cannot test the cap", used)
	}
	if err := s.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	used, _ := s.usedBytes(context.Background())
	if used > 256<<10 {
		t.Fatalf("after the size cap: %d bytes in use, cap %d", used, 256<<10)
	}
	got, _ = s.Jobs(context.Background(), Filter{Limit: 1})
	if len(got) != 1 || got[0].RequestID != "newest" {
		t.Fatalf("the newest receipt was pruned: %+v", got)
	}
	var pages int64
	s.db.QueryRow(`PRAGMA page_count`).Scan(&pages)
	var size int64
	s.db.QueryRow(`PRAGMA page_size`).Scan(&size)
	if pages*size > 2*(256<<10) {
		t.Fatalf("file keeps %d bytes after pruning: freed pages not given back", pages*size)
	}
}

func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := migrate(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO receipts (time_ns, request_id, node, model, kind, outcome, prompt_tokens, completion_tokens, earnings)
		VALUES (?, 'old', 'gpu-1', 'llama3', 'chat', 'ok', 3, 4, 0.5)`, t0.UnixNano()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, Options{Path: path})
	if v, _ := userVersion(ctx, s.db); v != SchemaVersion() {
		t.Fatalf("user_version = %d after Open, want %d", v, SchemaVersion())
	}
	s.Record(Receipt{Time: t0.Add(time.Second), ClientID: "op_x", RequestID: "new", Node: "gpu-1", Model: "m", Kind: KindChat, Outcome: OutcomeOK})
	got, err := s.Jobs(ctx, Filter{})
	if err != nil || len(got) != 2 {
		t.Fatalf("Jobs after migration = %+v, %v", got, err)
	}
	if got[1].RequestID != "old" || got[1].ClientID != "" || got[1].Earnings != 0.5 || got[0].ClientID != "op_x" {
		t.Fatalf("migrated rows = %+v", got)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, _ := sql.Open("sqlite", dsn(path, false))
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(context.Background(), Options{Path: path})
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
	_, err = Open(context.Background(), Options{Path: path, ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("read-only Open of a newer schema: %v", err)
	}
}

func TestCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{Path: path})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a corrupt file: %v; want an error naming it", err)
	}
}

func TestFromReport(t *testing.T) {
	at := t0
	r := FromReport(core.JobReport{RequestID: "q", Node: "n", Model: "m", Kind: core.KindChat, Outcome: core.OutcomeOK,
		PromptTokens: 500, CompletionTokens: 100, TTFT: time.Second, Duration: 3 * time.Second, Price: 0.01}, at)
	if r.Earnings != 0.006 || r.TokensPerSec != 50 || r.Outcome != OutcomeOK || r.RequestID != "q" || !r.Time.Equal(at) {
		t.Fatalf("ok receipt = %+v", r)
	}
	r = FromReport(core.JobReport{Kind: core.KindChat, Outcome: core.OutcomeError, PromptTokens: 5, Price: 1, Reason: "boom"}, at)
	if r.Outcome != OutcomeBackendError || r.Earnings != 0 || r.Reason != "boom" {
		t.Fatalf("error receipt = %+v", r)
	}
	r = FromReport(core.JobReport{Kind: core.KindInterview, Outcome: core.OutcomeOK, CompletionTokens: 50, Price: 1, Duration: time.Second}, at)
	if r.Earnings != 0 || r.TokensPerSec != 50 {
		t.Fatalf("interview receipt = %+v", r)
	}
}

func TestActivity(t *testing.T) {
	c := &clock{t: t0} // 12:30 UTC
	s := open(t, Options{Now: c.now})
	s.Record(rc(t0.Add(-10*time.Minute), "a", "gpu-1", OutcomeOK, 10, 90))              // 12:xx
	s.Record(rc(t0.Add(-20*time.Minute), "b", "gpu-1", OutcomeOK, 0, 45))               // 12:xx
	s.Record(rc(t0.Add(-3*time.Hour), "c", "gpu-2", OutcomeTimeout, 0, 0))              // 09:xx
	s.Record(rc(t0.Add(-30*time.Hour), "d", "gpu-2", OutcomeOK, 100, 100))              // yesterday, outside 24 h
	s.Record(rc(t0.Add(-26*time.Hour+10*time.Minute), "e", "gpu-2", OutcomeBusy, 0, 0)) // outside 24 h
	a, err := s.Activity(context.Background(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Hourly) != 25 || !a.Hourly[0].Start.Equal(t0.Add(-24*time.Hour).Truncate(time.Hour)) || !a.Hourly[24].Start.Equal(t0.Truncate(time.Hour)) {
		t.Fatalf("hourly buckets: %d, first %v, last %v", len(a.Hourly), a.Hourly[0].Start, a.Hourly[len(a.Hourly)-1].Start)
	}
	if h := a.Hourly[24]; h.Jobs != 2 || h.Tokens != 145 {
		t.Fatalf("12:00 bucket = %+v", h)
	}
	if h := a.Hourly[21]; h.Jobs != 1 || h.Tokens != 0 {
		t.Fatalf("09:00 bucket = %+v", h)
	}
	if len(a.Daily) != 2 || a.Daily[1].Jobs != 3 || a.Daily[0].Jobs != 2 { // whole local days
		t.Fatalf("daily = %+v", a.Daily)
	}
	if a.Outcomes[OutcomeOK] != 2 || a.Outcomes[OutcomeTimeout] != 1 || len(a.Outcomes) != 2 {
		t.Fatalf("outcomes = %v", a.Outcomes)
	}
	pts := a.Nodes["gpu-1"]
	if len(pts) != 1 || pts[0].Jobs != 2 || pts[0].TTFT != 100*time.Millisecond || pts[0].TokensPerSec != (100+50)/2.0 {
		t.Fatalf("gpu-1 points = %+v", pts)
	}
	if _, ok := a.Nodes["gpu-2"]; ok {
		t.Fatalf("gpu-2 has no ok chat job in the window: %+v", a.Nodes["gpu-2"])
	}
	if _, err := s.Activity(context.Background(), 0); err == nil {
		t.Fatal("Activity(0) did not fail")
	}
}

func TestActivityLocalDays(t *testing.T) {
	loc := time.FixedZone("UTC+10", 10*3600)
	c := &clock{t: t0} // 22:30 local on Dec 1
	s := open(t, Options{Now: c.now, Location: loc})
	s.Record(rc(t0.Add(-23*time.Hour), "a", "n", OutcomeOK, 1, 1)) // 23:30 local on Nov 30
	s.Record(rc(t0.Add(-time.Hour), "b", "n", OutcomeOK, 1, 1))    // Dec 1 local
	a, err := s.Activity(context.Background(), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Daily) != 8 {
		t.Fatalf("7 days span %d local days, want 8", len(a.Daily))
	}
	last, prev := a.Daily[7], a.Daily[6]
	if last.Start.Format(time.DateOnly) != "2026-12-01" || last.Start.Location() != loc || last.Jobs != 1 || prev.Jobs != 1 {
		t.Fatalf("local days = %+v", a.Daily)
	}
}

func TestEarnings(t *testing.T) {
	s := open(t, Options{})
	s.Record(rc(t0, "a", "gpu-1", OutcomeOK, 1000, 0))
	s.Record(rc(t0.Add(24*time.Hour), "b", "gpu-2", OutcomeOK, 2000, 0))
	s.Record(rc(t0.Add(25*time.Hour), "c", "gpu-2", OutcomeCancelled, 50, 0))
	days, err := s.Earnings(context.Background(), ByDay, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Key != "2026-12-01" || days[1].Jobs != 2 || days[1].OK != 1 || days[1].Earnings != 0.004 {
		t.Fatalf("by day = %+v", days)
	}
	nodes, _ := s.Earnings(context.Background(), ByNode, t0.Add(time.Hour))
	if len(nodes) != 1 || nodes[0].Key != "gpu-2" {
		t.Fatalf("by node since = %+v", nodes)
	}
	if _, err := s.Earnings(context.Background(), "week", time.Time{}); err == nil || !strings.Contains(err.Error(), "want day, node or model") {
		t.Fatalf("by week: %v", err)
	}
}

// A sick disk: a commit slower than CommitWait makes Record give up waiting once (one
// log line), and later Records do not wait at all until the writer has caught up.
func TestRecordBoundedWait(t *testing.T) {
	testCommitDelay.Store(int64(300 * time.Millisecond))
	t.Cleanup(func() { testCommitDelay.Store(0) })
	var logs strings.Builder
	var mu sync.Mutex
	s := open(t, Options{CommitWait: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))})
	start := time.Now()
	s.Record(rc(t0, "slow1", "n", OutcomeOK, 1, 1))
	s.Record(rc(t0, "slow2", "n", OutcomeOK, 1, 1))
	if took := time.Since(start); took >= 300*time.Millisecond {
		t.Fatalf("two Records took %s on a slow disk; want the 20 ms bound once, then no wait", took)
	}
	if !s.slow.Load() {
		t.Fatal("not marked slow after a missed commit")
	}
	testCommitDelay.Store(0)
	s.Record(rc(t0, "fast", "n", OutcomeOK, 1, 1)) // queued behind the slow ones; does not wait
	<-s.Add(rc(t0, "sync", "n", OutcomeOK, 1, 1))  // the writer caught up
	if s.slow.Load() {
		t.Error("still marked slow after the writer caught up")
	}
	got, _ := s.Jobs(context.Background(), Filter{})
	if len(got) != 4 {
		t.Errorf("%d receipts, want 4 (slow commits still land)", len(got))
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "took over"); n != 1 {
		t.Errorf("%d slow-commit warnings, want 1:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Two operators' engines share a state directory: each one's view holds only its own
// operator's receipts, in jobs, earnings and the Activity view; the Store, all of them.
func TestClientView(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, Options{Now: c.now})
	for i, id := range []string{"op_a", "op_a", "op_b"} {
		r := rc(t0.Add(-time.Duration(i+1)*time.Minute), fmt.Sprintf("r%d", i), "gpu-1", OutcomeOK, 1000, 0)
		r.ClientID = id
		s.Record(r)
	}
	ctx := context.Background()
	a := s.Client("op_a")
	if got, err := a.Jobs(ctx, Filter{}); err != nil || len(got) != 2 || got[0].ClientID != "op_a" || got[1].ClientID != "op_a" {
		t.Fatalf("op_a jobs = %+v, %v", got, err)
	}
	if got, _ := s.Client("op_b").Jobs(ctx, Filter{ClientID: "op_a"}); len(got) != 1 || got[0].ClientID != "op_b" {
		t.Fatalf("a view's own operator wins over the filter's: %+v", got)
	}
	if e, err := a.Earnings(ctx, ByNode, time.Time{}); err != nil || len(e) != 1 || e[0].Jobs != 2 {
		t.Fatalf("op_a earnings = %+v, %v", e, err)
	}
	if act, err := a.Activity(ctx, time.Hour); err != nil || act.Outcomes[OutcomeOK] != 2 {
		t.Fatalf("op_a activity outcomes = %v, %v", act.Outcomes, err)
	}
	if all, _ := s.Client("").Jobs(ctx, Filter{}); len(all) != 3 {
		t.Fatalf("no operator: %d receipts, want all 3", len(all))
	}
	var off *Store
	if _, err := off.Client("op_a").Jobs(ctx, Filter{}); !errors.Is(err, ErrOff) {
		t.Fatalf("a view of no ledger: %v, want ErrOff", err)
	}
}
