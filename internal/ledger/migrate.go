package ledger

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] takes the schema from version i to i+1 (PRAGMA user_version). Never
// edit a released step: add one.
var migrations = []string{
	// 1: the receipts.
	`CREATE TABLE receipts (
		id                INTEGER PRIMARY KEY,
		time_ns           INTEGER NOT NULL,
		request_id        TEXT    NOT NULL,
		node              TEXT    NOT NULL,
		model             TEXT    NOT NULL,
		kind              TEXT    NOT NULL,
		outcome           TEXT    NOT NULL,
		reason            TEXT    NOT NULL DEFAULT '',
		prompt_tokens     INTEGER NOT NULL DEFAULT 0,
		completion_tokens INTEGER NOT NULL DEFAULT 0,
		ttft_ns           INTEGER NOT NULL DEFAULT 0,
		duration_ns       INTEGER NOT NULL DEFAULT 0,
		tokens_per_sec    REAL    NOT NULL DEFAULT 0,
		price_per_1k      REAL    NOT NULL DEFAULT 0,
		earnings          REAL    NOT NULL DEFAULT 0
	);
	CREATE INDEX receipts_time ON receipts (time_ns);`,
	// 2: the operator (several may share a state directory) and by-node lookups.
	`ALTER TABLE receipts ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
	CREATE INDEX receipts_node_time ON receipts (node, time_ns);`,
}

// SchemaVersion is the schema this build writes.
func SchemaVersion() int { return len(migrations) }

func userVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}

func newerError(v int) error {
	return fmt.Errorf("schema version %d is newer than this pin-clientd knows (%d): upgrade pin-clientd, or move the file away to start a new ledger", v, len(migrations))
}

// migrate brings db to version to, one transaction per step.
func migrate(ctx context.Context, db *sql.DB, to int) error {
	v, err := userVersion(ctx, db)
	if err != nil {
		return err
	}
	if v > len(migrations) {
		return newerError(v)
	}
	if v == 0 {
		// Before the first table: lets Prune give freed pages back (PRAGMA incremental_vacuum).
		// VACUUM applies it to the new (empty) file, whose header WAL mode already wrote.
		for _, q := range []string{`PRAGMA auto_vacuum = INCREMENTAL`, `VACUUM`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	for ; v < to; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
	}
	return nil
}
