package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
	"github.com/pin-client/pin-client/internal/ledger/sampleweek"
)

// TestSeedShape: the seeded week, read back through ledger.Activity as the app reads
// it, fills every chart of the Activity view.
func TestSeedShape(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2026, 12, 6, 16, 20, 0, 0, loc) // a Sunday afternoon
	path := filepath.Join(t.TempDir(), "state", ledger.FileName)
	n, err := seed(ctx, path, "op_seed", 7, now, loc)
	if err != nil {
		t.Fatal(err)
	}
	if n < 7*200 || n > 7*600 {
		t.Errorf("wrote %d receipts, want a few hundred a day", n)
	}
	st, err := ledger.Open(ctx, ledger.Options{Path: path, ReadOnly: true, Now: func() time.Time { return now }, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Client("op_seed").Activity(ctx, 7*24*time.Hour) // what that operator's engine shows
	if err != nil {
		t.Fatal(err)
	}
	var week float64
	earning := 0
	for _, d := range a.Daily {
		if d.Earnings > 0 {
			earning++
		}
		week += d.Earnings
	}
	if len(a.Daily) < 7 || earning < 7 {
		t.Errorf("%d daily buckets, %d with earnings; want at least 7 of each", len(a.Daily), earning)
	}
	if week < 2 || week > 20 {
		t.Errorf("estimated earnings of the week $%.2f, want a few dollars", week)
	}
	for _, o := range []string{ledger.OutcomeOK, ledger.OutcomeBackendError, ledger.OutcomeTimeout, ledger.OutcomeBusy, ledger.OutcomeCancelled, ledger.OutcomeLinkLost} {
		if a.Outcomes[o] == 0 {
			t.Errorf("no %s jobs: %v", o, a.Outcomes)
		}
	}
	if a.Outcomes[ledger.OutcomeOK] < n*9/10 {
		t.Errorf("%d of %d jobs ok, want most", a.Outcomes[ledger.OutcomeOK], n)
	}
	// Busy weekday afternoons, quiet nights and a quieter weekend.
	jobsAt := func(day, hour int) int {
		start := time.Date(2026, 12, day, hour, 0, 0, 0, loc)
		i := slices.IndexFunc(a.Hourly, func(b ledger.Bucket) bool { return b.Start.Equal(start) })
		if i < 0 {
			t.Fatalf("no bucket for %v", start)
		}
		return a.Hourly[i].Jobs
	}
	if wed3pm, wed3am, sat3pm := jobsAt(2, 15), jobsAt(2, 3), jobsAt(5, 15); wed3pm < 3*wed3am || wed3pm <= sat3pm {
		t.Errorf("jobs: Wednesday 15:00 %d, 03:00 %d, Saturday 15:00 %d", wed3pm, wed3am, sat3pm)
	}
	// Three nodes with speed and TTFT; the outage node is silent for its outage.
	for _, nd := range sampleweek.Nodes {
		pts := a.Nodes[nd.Alias]
		if len(pts) == 0 || pts[0].TokensPerSec <= 0 || pts[0].TTFT <= 0 {
			t.Fatalf("node %s: %d points, first %+v", nd.Alias, len(pts), pts)
		}
	}
	outage := time.Date(2026, 12, 3, 9, 0, 0, 0, loc)
	for _, p := range a.Nodes[sampleweek.OutageNode] {
		if !p.Start.Before(outage) && p.Start.Before(outage.Add(sampleweek.OutageHours*time.Hour)) {
			t.Errorf("%s served at %v, during its outage", sampleweek.OutageNode, p.Start)
		}
	}
	// Deterministic: a second seed of the same hours writes the same receipts.
	path2 := filepath.Join(t.TempDir(), ledger.FileName)
	if _, err := seed(ctx, path2, "op_seed", 7, now, loc); err != nil {
		t.Fatal(err)
	}
	st2, err := ledger.Open(ctx, ledger.Options{Path: path2, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	r1, err1 := st.Jobs(ctx, ledger.Filter{})
	r2, err2 := st2.Jobs(ctx, ledger.Filter{})
	if err1 != nil || err2 != nil || !slices.EqualFunc(r1, r2, func(x, y ledger.Receipt) bool {
		return x.Time.Equal(y.Time) && x.RequestID == y.RequestID && x.Earnings == y.Earnings
	}) {
		t.Errorf("two seeds differ (%d and %d receipts; %v %v)", len(r1), len(r2), err1, err2)
	}
	if _, err := seed(ctx, path2, "op_seed", 0, now, loc); err == nil {
		t.Error("-days 0 accepted")
	}
}
