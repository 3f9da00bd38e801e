package control

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
)

// ledgerEngine is a fake engine that keeps a real ledger.
type ledgerEngine struct {
	*fakeEngine
	*ledger.Store
}

func TestLedgerEndpoints(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 30, 0, 0, time.UTC)
	st, err := ledger.Open(context.Background(), ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db"), Now: func() time.Time { return now }, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, node := range []string{"gpu-1", "gpu-2", "gpu-1"} {
		st.Record(ledger.Receipt{Time: now.Add(-time.Duration(i+1) * time.Hour), RequestID: "r" + string(rune('0'+i)), Node: node, Model: "llama3",
			Kind: ledger.KindChat, Outcome: ledger.OutcomeOK, PromptTokens: 1000, Earnings: 0.001})
	}
	h := serve(t, ledgerEngine{newFake(), st}, nil)
	ctx := ctx10(t)

	var src ledger.ActivitySource = h.c // the desktop app reads this
	a, err := src.Activity(ctx, 24*time.Hour)
	if err != nil || len(a.Hourly) != 25 || a.Outcomes[ledger.OutcomeOK] != 3 {
		t.Fatalf("Activity = %+v, %v", a, err)
	}
	rs, err := h.c.Jobs(ctx, ledger.Filter{Node: "gpu-1", Since: now.Add(-150 * time.Minute), Limit: 10})
	if err != nil || len(rs) != 1 || rs[0].RequestID != "r0" || !rs[0].Time.Equal(now.Add(-time.Hour)) {
		t.Fatalf("Jobs = %+v, %v", rs, err)
	}
	es, err := h.c.Earnings(ctx, ledger.ByNode, time.Time{})
	if err != nil || len(es) != 2 || es[0].Key != "gpu-1" || es[0].Jobs != 2 {
		t.Fatalf("Earnings = %+v, %v", es, err)
	}

	for _, tc := range []struct{ path, want string }{
		{"jobs?since=yesterday", `since="yesterday": want an RFC 3339 time`},
		{"jobs?limit=-1", `limit="-1": want a whole number`},
		{"earnings?by=week", `by="week": want day, node or model`},
		{"activity?span=forever", `span="forever": want a duration`},
	} {
		err := h.c.getLedger(ctx, tc.path, nil, new(any))
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, tc.want) {
			t.Errorf("%s: %v, want a 400 saying %q", tc.path, err, tc.want)
		}
	}
}

func TestLedgerEndpointsWithoutLedger(t *testing.T) {
	h := serve(t, newFake(), nil)
	_, err := h.c.Jobs(ctx10(t), ledger.Filter{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.Message != "this engine keeps no job ledger" {
		t.Fatalf("Jobs of an engine without ledger: %v", err)
	}
	var off *ledger.Store // a Host whose ledger is off answers ErrOff
	h = serve(t, ledgerEngine{newFake(), off}, nil)
	_, err = h.c.Activity(ctx10(t), time.Hour)
	if !errors.As(err, &se) || se.Code != 503 || !strings.Contains(se.Message, "ledger is off") {
		t.Fatalf("Activity of an engine with the ledger off: %v", err)
	}
}
