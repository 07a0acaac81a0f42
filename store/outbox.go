package store

import (
	"context"
	"fmt"
	"strconv"
)

// MaxOutboxBatch is the most decisions one OutboxDecisions call returns.
const MaxOutboxBatch = 1000

// The decision outbox (table decision_outbox, migration 0009) lists every committed decision
// not yet acknowledged by the decision-log collector: InsertDecision queues a record in the
// transaction that commits it, and AckOutbox removes records once delivered. The outbox is the
// shipping position, kept in the database: whichever replica ships, and after any restart, it
// resumes with exactly the records not acknowledged.

// OutboxDecisions returns up to limit (at most MaxOutboxBatch) queued decisions, oldest first
// (by time, then id), and the queued ids whose record no longer exists (deleted from the log
// behind the CM's back), which the caller should acknowledge so that they do not stay queued.
func (db *DB) OutboxDecisions(ctx context.Context, limit int) ([]Decision, []string, error) {
	limit = clampLimit(limit, MaxOutboxBatch, MaxOutboxBatch)
	ids, err := queryAll(ctx, db.sql, scanString,
		"SELECT decision_id FROM decision_outbox ORDER BY decided_at, decision_id LIMIT "+strconv.Itoa(limit))
	if err != nil || len(ids) == 0 {
		return nil, nil, wrapOutbox("read", err)
	}
	in, args := inList(ids)
	ds, err := queryAll(ctx, db.sql, scanDecision,
		"SELECT "+decisionColumns+" FROM decisions WHERE id IN ("+in+") ORDER BY decided_at, id", args...)
	if err != nil {
		return nil, nil, wrapOutbox("read", err)
	}
	found := make(map[string]bool, len(ds))
	for _, d := range ds {
		found[d.ID] = true
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return ds, missing, nil
}

// AckOutbox removes the decisions ids from the outbox: the collector has them. Ids not queued
// are ignored, so acknowledging twice is harmless.
func (db *DB) AckOutbox(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	in, args := inList(ids)
	// One statement: an implicit transaction that holds no lock across statements.
	err := db.write(ctx, func(q execQuerier) error {
		_, err := q.ExecContext(ctx, "DELETE FROM decision_outbox WHERE decision_id IN ("+in+")", args...)
		return err
	})
	return wrapOutbox("acknowledge", err)
}

// OutboxLen counts the queued decisions.
func (db *DB) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM decision_outbox").Scan(&n)
	return n, wrapOutbox("count", err)
}

// scanString reads a one-column row of text.
func scanString(r rowScanner) (string, error) {
	var s string
	return s, r.Scan(&s)
}

// inList returns the placeholders "$1, $2, …" of an IN list and its arguments.
func inList(ids []string) (string, []any) { return idMarks(1, len(ids)), anys(ids) }

func wrapOutbox(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s decision outbox: %w", what, err)
}
