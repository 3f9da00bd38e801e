package host

import (
	"context"
	"path/filepath"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/ledger"
)

// ledgerObserver is the engines' observer that records receipts in the Host's ledger,
// once it is open (Run opens it after taking the engine lock; it outlives reloads).
type ledgerObserver struct {
	h        *Host
	clientID string
}

func (o ledgerObserver) JobDone(r core.JobReport) {
	if s := o.h.led.Load(); s != nil {
		s.Observer(o.clientID).JobDone(r)
	}
}

// observers is the fan-out an engine reports to: the metrics (when on), the ledger, then
// the observer Build set (if any).
func (h *Host) observers(opts core.Options) core.Observer {
	obs := core.Observers{}
	if h.metrics != nil {
		obs = append(obs, h.metrics.Observer())
	}
	obs = append(obs, ledgerObserver{h: h, clientID: opts.Config.ClientID})
	if opts.Observer != nil { // last: it sees a job once its receipt is committed
		obs = append(obs, opts.Observer)
	}
	return obs
}

// LedgerPath is the ledger's file in a state directory.
func LedgerPath(stateDir string) string { return filepath.Join(stateDir, ledger.FileName) }

// openLedger opens the ledger in dir as cfg says. A ledger that cannot be opened is
// logged in one line and the engine serves without it.
func (h *Host) openLedger(ctx context.Context, dir string, cfg *config.Config) {
	if cfg != nil && cfg.LedgerOff {
		h.log.Info("job ledger off (ledgerOff in the config)")
		return
	}
	o := ledger.Options{Path: LedgerPath(dir), Logger: h.log}
	if cfg != nil {
		o.RetentionDays, o.MaxBytes = cfg.LedgerRetentionDays, int64(cfg.LedgerMaxMB)<<20
	}
	s, err := ledger.Open(ctx, o)
	if err != nil {
		h.log.Error("job ledger unavailable; serving jobs without receipts (move the file away to start a new ledger)", "err", err)
		return
	}
	h.led.Store(s)
}

// closeLedger commits what is queued and closes the ledger (after the engine stopped).
func (h *Host) closeLedger() {
	if s := h.led.Swap(nil); s != nil {
		if err := s.Close(); err != nil {
			h.log.Warn("job ledger: close", "err", err)
		}
	}
}

// view is the ledger as this engine shows it: its own operator's receipts (a shared
// state directory may hold other operators' too). Nil when the ledger is off.
func (h *Host) view() ledger.Source {
	s := h.led.Load()
	if s == nil {
		return s // a nil *Store: its methods answer ledger.ErrOff
	}
	h.mu.Lock()
	id := h.clientID
	h.mu.Unlock()
	return s.Client(id)
}

// Jobs lists the receipts f selects, newest first.
func (h *Host) Jobs(ctx context.Context, f ledger.Filter) ([]ledger.Receipt, error) {
	return h.view().Jobs(ctx, f)
}

// Earnings groups the receipts since since by ledger.ByDay, ByNode or ByModel.
func (h *Host) Earnings(ctx context.Context, by string, since time.Time) ([]ledger.Earning, error) {
	return h.view().Earnings(ctx, by, since)
}

// Activity is the Activity view of the span ending now.
func (h *Host) Activity(ctx context.Context, span time.Duration) (ledger.Activity, error) {
	return h.view().Activity(ctx, span)
}

var _ ledger.ActivitySource = (*Host)(nil)
