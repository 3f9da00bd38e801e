package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

// FileName is the ledger's file in the engine's state directory.
const FileName = "ledger.db"

// Defaults of Options (and of the config keys ledgerRetentionDays, ledgerMaxMB).
const (
	DefaultRetentionDays = 90
	DefaultMaxMB         = 100
	// DefaultCommitWait bounds how long Record waits for its receipt to be committed
	// before the job's terminal answer goes out anyway.
	DefaultCommitWait = time.Second
)

const (
	queueLen     = 4096             // receipts waiting for the writer; past it they are dropped (and logged)
	maxBatch     = 512              // receipts per transaction
	pruneEvery   = time.Hour        // retention and size cap run at open and then this often
	pruneChunk   = 1000             // oldest receipts deleted per round while over the size cap
	busyTimeout  = 5 * time.Second  // another process (the CLI, a second operator) holding the write lock
	queryTimeout = 10 * time.Second // bounds a query of the control API or the CLI
)

// Options configures Open.
type Options struct {
	Path          string        // the database file (required)
	RetentionDays int           // receipts older than this are deleted; 0 → DefaultRetentionDays
	MaxBytes      int64         // size cap of the data; 0 → DefaultMaxMB MiB
	CommitWait    time.Duration // Record's bound; 0 → DefaultCommitWait
	ReadOnly      bool          // open for queries only (the CLI without a running engine)
	Logger        *slog.Logger  // nil → discard
	Now           func() time.Time
	Location      *time.Location // local days of Activity and earnings by day; nil → time.Local
}

// Store is an open ledger. Record is safe for concurrent use; every method is safe on a
// nil *Store (Record does nothing, queries answer ErrOff).
type Store struct {
	db   *sql.DB
	o    Options
	log  *slog.Logger
	now  func() time.Time
	loc  *time.Location
	ro   bool
	in   chan item
	quit chan struct{}
	done chan struct{}

	closeOnce sync.Once
	slow      atomic.Bool // a commit missed CommitWait: Record stops waiting until the writer catches up
	dropped   atomic.Bool // the queue overflowed (logged once)
	failed    atomic.Bool // a commit failed (logged once until one succeeds)
	ins       *sql.Stmt   // writer goroutine only: the prepared insert
}

type item struct {
	r    Receipt
	done chan struct{} // closed when committed (or given up)
}

// ErrOff is returned by the queries of a ledger that is not open (turned off, or it
// failed to open).
var ErrOff = errors.New("the job ledger is off (ledgerOff in the config, or it could not be opened; see the engine's log)")

// Open opens (creating and migrating) the ledger at o.Path and starts its writer. A
// read-only Store neither creates, migrates nor prunes; it refuses a file that does not
// exist.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Path == "" {
		return nil, errors.New("ledger: no path")
	}
	if o.RetentionDays <= 0 {
		o.RetentionDays = DefaultRetentionDays
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxMB << 20
	}
	if o.CommitWait <= 0 {
		o.CommitWait = DefaultCommitWait
	}
	s := &Store{o: o, log: o.Logger, now: o.Now, loc: o.Location, ro: o.ReadOnly}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	if o.ReadOnly {
		if _, err := os.Stat(o.Path); err != nil {
			return nil, fmt.Errorf("ledger %s: %w", o.Path, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(o.Path, o.ReadOnly))
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", o.Path, err)
	}
	s.db = db
	if !o.ReadOnly {
		db.SetMaxOpenConns(1) // one writer connection; queries wait for it briefly (no reader starvation: batches are short)
	}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", o.Path, err)
	}
	if o.ReadOnly {
		return s, nil
	}
	s.in = make(chan item, queueLen)
	s.quit = make(chan struct{})
	s.done = make(chan struct{})
	s.prune(ctx)
	go s.writer()
	return s, nil
}

func dsn(path string, ro bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_txlock", "immediate")
	if ro {
		q.Add("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// NORMAL in WAL mode: a commit is in the OS once it returns, so it survives the
		// process being killed (kill -9, a crash); only a power cut can lose the last
		// commits, never corrupt the file. FULL would fsync every batch.
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "cache_size(-512)") // KiB: receipts are appended, rarely reread; keep the daemon small
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func (s *Store) init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	if s.ro {
		v, err := userVersion(ctx, s.db)
		if err != nil {
			return err
		}
		if v > len(migrations) {
			return newerError(v)
		}
		if v < len(migrations) {
			return fmt.Errorf("schema version %d is older than this pin-clientd's (%d); start the engine once to migrate it", v, len(migrations))
		}
		return nil
	}
	return migrate(ctx, s.db, len(migrations))
}

// Close stops the writer after it committed what was queued, and closes the file.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	var err error
	s.closeOnce.Do(func() {
		if s.quit != nil {
			close(s.quit)
			<-s.done
		}
		err = s.db.Close()
	})
	return err
}

// Record queues r for the writer and waits until it is committed, at most CommitWait
// (after a wait that timed out it stops waiting until the writer has caught up, so a
// sick disk costs one second once, not every job). The engine calls it before the job's
// terminal answer leaves the process, so a job the gateway saw finish has its receipt
// on disk even if the process is killed right after.
func (s *Store) Record(r Receipt) {
	done := s.Add(r)
	if done == nil || s.slow.Load() {
		return
	}
	t := time.NewTimer(s.o.CommitWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if !s.slow.Swap(true) {
			s.log.Warn("job ledger: a receipt took over "+s.o.CommitWait.String()+" to commit; jobs no longer wait for it (receipts of the last moments may be lost on a crash)", "path", s.o.Path)
		}
	}
}

// Add queues r and returns a channel closed once it is committed (or could not be);
// nil when the ledger is closed, read-only or its queue is full.
func (s *Store) Add(r Receipt) <-chan struct{} {
	if s == nil || s.in == nil {
		return nil
	}
	it := item{r: r, done: make(chan struct{})}
	select {
	case <-s.quit:
		return nil
	default:
	}
	select {
	case s.in <- it:
		return it.done
	default:
		if !s.dropped.Swap(true) {
			s.log.Warn("job ledger: the writer is behind; receipts are being dropped", "path", s.o.Path)
		}
		return nil
	}
}

// writer commits queued receipts in batches (group commit) until Close.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]item, 0, maxBatch)
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for {
		select {
		case it := <-s.in:
			batch = s.fill(append(batch[:0], it))
			s.commit(batch)
		case <-prune.C:
			s.prune(context.Background())
		case <-s.quit:
			for { // commit what is queued, then stop
				if batch = s.fill(batch[:0]); len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
	}
}

// fill appends to batch what is queued now, up to maxBatch, without waiting.
func (s *Store) fill(batch []item) []item {
	for len(batch) < maxBatch {
		select {
		case it := <-s.in:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

const insertSQL = `INSERT INTO receipts (time_ns, client_id, request_id, node, model, kind, outcome, reason,
	prompt_tokens, completion_tokens, ttft_ns, duration_ns, tokens_per_sec, price_per_1k, earnings)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) commit(batch []item) {
	defer func() {
		for _, it := range batch {
			close(it.done)
		}
	}()
	if err := s.insert(batch); err != nil {
		if !s.failed.Swap(true) {
			s.log.Error("job ledger: cannot write receipts; jobs go on without them", "path", s.o.Path, "receipts", len(batch), "err", err)
		}
		return
	}
	if s.failed.Swap(false) {
		s.log.Info("job ledger: writing receipts again", "path", s.o.Path)
	}
	if len(s.in) == 0 {
		s.slow.Store(false)
	}
}

// testCommitDelay slows every commit (PIN_TEST_LEDGER_COMMIT_DELAY, a duration): the
// kill -9 test uses it to show that a job's answer waits for its receipt.
var testCommitDelay atomic.Int64

func init() {
	d, _ := time.ParseDuration(os.Getenv("PIN_TEST_LEDGER_COMMIT_DELAY"))
	testCommitDelay.Store(int64(min(d, 500*time.Millisecond)))
}

func (s *Store) insert(batch []item) error {
	if d := time.Duration(testCommitDelay.Load()); d > 0 {
		time.Sleep(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if s.ins == nil { // prepared once (outside the transaction: one connection)
		ins, err := s.db.PrepareContext(ctx, insertSQL)
		if err != nil {
			return err
		}
		s.ins = ins
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, s.ins)
	for _, it := range batch {
		r := it.r
		if _, err := st.ExecContext(ctx, r.Time.UnixNano(), r.ClientID, r.RequestID, r.Node, r.Model, r.Kind, r.Outcome, r.Reason,
			r.PromptTokens, r.CompletionTokens, int64(r.TTFT), int64(r.Duration), r.TokensPerSec, r.PricePer1K, r.Earnings); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// prune deletes receipts past the retention, then the oldest ones while the data is over
// the size cap, and gives the freed pages back to the file system.
func (s *Store) prune(ctx context.Context) {
	if err := s.Prune(ctx); err != nil {
		s.log.Warn("job ledger: pruning failed", "path", s.o.Path, "err", err)
	}
}

// Prune applies the retention and the size cap now (the writer does it at open and
// hourly).
func (s *Store) Prune(ctx context.Context) error {
	if s == nil || s.ro {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	cut := s.now().Add(-time.Duration(s.o.RetentionDays) * 24 * time.Hour)
	if _, err := s.db.ExecContext(ctx, `DELETE FROM receipts WHERE time_ns < ?`, cut.UnixNano()); err != nil {
		return err
	}
	for {
		used, err := s.usedBytes(ctx)
		if err != nil {
			return err
		}
		if used <= s.o.MaxBytes {
			break
		}
		res, err := s.db.ExecContext(ctx, `DELETE FROM receipts WHERE id IN (SELECT id FROM receipts ORDER BY time_ns, id LIMIT ?)`, pruneChunk)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			break
		}
	}
	_, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`)
	return err
}

// usedBytes is the size of the pages in use (the file less its free pages).
func (s *Store) usedBytes(ctx context.Context) (int64, error) {
	var pages, free, size int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return 0, err
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		return 0, err
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return 0, err
	}
	return (pages - free) * size, nil
}
