package sampleweek

import (
	"testing"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
)

// TestReceiptsBucketAndRepeat: every receipt of the week lands in one hour, one day and
// one outcome, and the same hours always hold the same receipts.
func TestReceiptsBucketAndRepeat(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	from := now.Add(-7 * 24 * time.Hour)
	recs := Receipts(from, now, time.UTC)
	a := ledger.BuildActivity(recs, from, now, time.UTC)
	if len(a.Hourly) != 169 || !a.Hourly[0].Start.Equal(from.Truncate(time.Hour)) || len(a.Daily) != 8 {
		t.Fatalf("%d hours from %v, %d days", len(a.Hourly), a.Hourly[0].Start, len(a.Daily))
	}
	var hourly, daily, outcomes, okJobs, nodeJobs int
	for _, b := range a.Hourly {
		hourly += b.Jobs
	}
	for _, b := range a.Daily {
		daily += b.Jobs
	}
	for o, n := range a.Outcomes {
		outcomes += n
		if o == ledger.OutcomeOK {
			okJobs = n
		}
	}
	for _, pts := range a.Nodes {
		for _, p := range pts {
			nodeJobs += p.Jobs
		}
	}
	if hourly != len(recs) || daily != len(recs) || outcomes != len(recs) || nodeJobs != okJobs {
		t.Errorf("receipts %d: hourly %d, daily %d, outcomes %d; ok %d, per node %d", len(recs), hourly, daily, outcomes, okJobs, nodeJobs)
	}
	if again := Receipts(from, now, time.UTC); len(again) != len(recs) || again[100] != recs[100] {
		t.Error("the sample week changes between reads")
	}
}
