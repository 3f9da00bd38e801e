// Command seedledger writes a sample week of jobs (internal/ledger/sampleweek) into a
// job ledger through the ledger package, ending now. A developer tool for
// scripts/screenshots.sh (docs/activity.png); not shipped.
//
//	go run ./scripts/seedledger [-days 7] [-client-id op_x] PATH/ledger.db
//
// The file is created when missing; the receipts are added to what it holds. No engine
// may have it open (the engine would keep serving, but stop the app or pin-clientd
// first so the picture is the seeded week).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
	"github.com/pin-client/pin-client/internal/ledger/sampleweek"
)

func main() {
	days := flag.Int("days", 7, "days of jobs to write, ending now (1-90)")
	clientID := flag.String("client-id", "", "the operator the jobs were served for (an engine shows only its own operator's receipts)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: seedledger [-days N] [-client-id ID] PATH/ledger.db")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	n, err := seed(context.Background(), flag.Arg(0), *clientID, *days, time.Now(), time.Local)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seedledger:", err)
		os.Exit(1)
	}
	fmt.Printf("seedledger: wrote %d receipts of %d days into %s\n", n, *days, flag.Arg(0))
}

// seed writes the sample receipts of the days before now, served for clientID, into the
// ledger at path and returns how many it wrote.
func seed(ctx context.Context, path, clientID string, days int, now time.Time, loc *time.Location) (int, error) {
	if days < 1 || days > ledger.DefaultRetentionDays {
		return 0, fmt.Errorf("-days %d: want 1 to %d (older receipts would be pruned)", days, ledger.DefaultRetentionDays)
	}
	st, err := ledger.Open(ctx, ledger.Options{Path: path, Now: func() time.Time { return now }, Location: loc})
	if err != nil {
		return 0, err
	}
	from := now.Add(-time.Duration(days) * 24 * time.Hour)
	rs := sampleweek.Receipts(from, now, loc)
	before, err := st.Jobs(ctx, ledger.Filter{Since: from})
	if err != nil {
		st.Close()
		return 0, err
	}
	// The writer's queue holds a few thousand receipts: wait for each batch to commit.
	var pending []<-chan struct{}
	wait := func() {
		for _, d := range pending {
			<-d
		}
		pending = pending[:0]
	}
	for _, r := range rs {
		r.ClientID = clientID
		d := st.Add(r)
		if d == nil {
			st.Close()
			return 0, errors.New("the ledger refused a receipt (its queue is full)")
		}
		if pending = append(pending, d); len(pending) == 1000 {
			wait()
		}
	}
	wait()
	after, err := st.Jobs(ctx, ledger.Filter{Since: from})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if got := len(after) - len(before); got != len(rs) {
		return 0, fmt.Errorf("wrote %d receipts but the ledger holds %d more (is the disk full? see above)", len(rs), got)
	}
	return len(rs), nil
}
