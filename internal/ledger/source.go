package ledger

import (
	"context"
	"time"
)

// ActivitySource is what the desktop app's Activity view reads: *host.Host (an engine in
// this process) and *control.Client (an engine behind the control API) both satisfy it.
type ActivitySource interface {
	Activity(ctx context.Context, span time.Duration) (Activity, error)
}

// Source is the whole ledger as a Host, a control client and a Store offer it.
type Source interface {
	ActivitySource
	Jobs(ctx context.Context, f Filter) ([]Receipt, error)
	Earnings(ctx context.Context, by string, since time.Time) ([]Earning, error)
}

var _ Source = (*Store)(nil)
