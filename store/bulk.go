package store

import (
	"context"
	"database/sql"
	"fmt"
)

// importBatch is how many records ImportDecisions commits per transaction.
const importBatch = 10_000

// ImportDecisions appends n decision records, record(0) to record(n-1), to the log in
// transactions of importBatch, each record as InsertDecision writes it (queued for shipping and
// logging) but without the group commit's per-connect batching; then, on PostgreSQL and
// CockroachDB, it refreshes the planner's statistics of the decision log, as their automatic
// analysis would after such a load. It loads a log in bulk (the bench's scaling section). A
// record InsertDecision would refuse fails the import there: the batches before it stay
// committed, its own is rolled back.
func (db *DB) ImportDecisions(ctx context.Context, n int, record func(i int) Decision) error {
	for start := 0; start < n; start += importBatch {
		batch := make([]*pendingInsert, 0, min(importBatch, n-start))
		for i := start; i < min(start+importBatch, n); i++ {
			d := record(i)
			args, err := db.decisionArgs(d)
			if err != nil {
				return fmt.Errorf("store: import decisions: record %d (%q): %w", i, d.ID, err)
			}
			batch = append(batch, &pendingInsert{args: args})
		}
		err := db.inTx(ctx, func(tx *sql.Tx) error { return db.insertDecisions(ctx, tx, batch) })
		if err != nil {
			return fmt.Errorf("store: import decisions: %w", err)
		}
	}
	if db.d.kind == kindSQLite {
		return nil
	}
	if _, err := db.sql.ExecContext(ctx, "ANALYZE decisions"); err != nil {
		return fmt.Errorf("store: import decisions: analyze: %w", err)
	}
	return nil
}
