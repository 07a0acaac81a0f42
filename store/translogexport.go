package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LogExport is what an export of the records decided in a time window reads before it
// streams the log: a consistent cut in which every record of the window is either logged
// under Checkpoint (at positions [From, To) when the time window asked for is bounded) or in
// Pending, never in neither.
type LogExport struct {
	// Checkpoint is the latest checkpoint, read after Pending.
	Checkpoint LogCheckpoint
	// From and To bound the positions of the window's logged records, clipped to Checkpoint.
	From, To uint64
	// Pending are the window's records not under Checkpoint, oldest first.
	Pending []Decision
	// PendingTruncated is set when the window has more than the limit of records not logged.
	PendingTruncated bool
}

// LogExportSnapshot reads what an export of the records decided in [since, until) (zero
// times: unbounded) needs, at most pendingLimit of them not logged yet; ErrNotFound before the
// first checkpoint. The records not logged are read first, the checkpoint after: a record the
// sequencer logs meanwhile is under the checkpoint (and taken out of Pending), so every record
// is in one part.
func (db *DB) LogExportSnapshot(ctx context.Context, since, until time.Time, pendingLimit int) (LogExport, error) {
	return db.logExportSnapshot(ctx, since, until, pendingLimit, nil)
}

// logExportSnapshot is LogExportSnapshot; between, when set, runs after the pending records
// are read (a test's sequencer step).
func (db *DB) logExportSnapshot(ctx context.Context, since, until time.Time, pendingLimit int, between func()) (LogExport, error) {
	if pendingLimit < 1 {
		return LogExport{}, fmt.Errorf("store: export: the limit of records not logged must be positive, not %d", pendingLimit)
	}
	var e LogExport
	pending, err := db.DecisionsNotLogged(ctx, since, until, pendingLimit+1)
	if err != nil {
		return e, err
	}
	if len(pending) > pendingLimit {
		pending, e.PendingTruncated = pending[:pendingLimit], true
	}
	if between != nil {
		between()
	}
	if e.Checkpoint, err = db.LatestCheckpoint(ctx); err != nil {
		return e, err
	}
	if e.From, e.To, err = db.LogRange(ctx, since, until); err != nil {
		return e, err
	}
	e.From, e.To = min(e.From, e.Checkpoint.Size), min(e.To, e.Checkpoint.Size)
	logged, err := db.loggedUnder(ctx, pending, e.Checkpoint.Size)
	if err != nil {
		return e, err
	}
	for _, d := range pending {
		if !logged[d.ID] {
			e.Pending = append(e.Pending, d)
		}
	}
	return e, nil
}

// loggedUnder returns which of ds have a leaf at a position below size.
func (db *DB) loggedUnder(ctx context.Context, ds []Decision, size uint64) (map[string]bool, error) {
	logged := map[string]bool{}
	for part := range rowChunks(ds) {
		ids := make([]string, len(part))
		for i, d := range part {
			ids[i] = d.ID
		}
		in, args := inList(ids)
		found, err := queryAll(ctx, db.sql, func(r rowScanner) (string, error) {
			var id string
			return id, r.Scan(&id)
		}, fmt.Sprintf("SELECT decision_id FROM log_leaves WHERE idx < $%d AND decision_id IN (%s)", len(ids)+1, in), append(args, int64(size))...)
		if err != nil {
			return nil, fmt.Errorf("store: export: records logged meanwhile: %w", err)
		}
		for _, id := range found {
			logged[id] = true
		}
	}
	return logged, nil
}

// LogRange returns the positions [from, to) an export of the records decided in [since,
// until) (zero times: unbounded) holds: every leaf logged for such a record, by the leaves'
// times, widened so that the leaf just before from was decided before since and the one at to
// at or after until (the log is not strictly in time order: replicas decide concurrently).
// Those two are the window's bounds, whose times their leaf hashes prove to a verifier; the
// leaves' own times, which no hash covers, only find them.
func (db *DB) LogRange(ctx context.Context, since, until time.Time) (from, to uint64, err error) {
	since, until = wholeTime(since, until)
	var lo, hi sql.NullInt64
	err = db.sql.QueryRowContext(ctx, "SELECT min(idx), max(idx) FROM log_leaves WHERE decided_at >= $1 AND decided_at < $2",
		db.d.timeArg(since), db.d.timeArg(until)).Scan(&lo, &hi)
	if err != nil {
		return 0, 0, fmt.Errorf("store: log range: %w", err)
	}
	if lo.Valid {
		from, to = uint64(lo.Int64), uint64(hi.Int64)+1
	} else {
		// No record in the window: its place is just after the last one decided before it.
		last, err := db.logPosition(ctx, "SELECT max(idx) FROM log_leaves WHERE decided_at < $1", db.d.timeArg(since))
		if err != nil {
			return 0, 0, err
		}
		from = uint64(last.Int64 + 1)
		if !last.Valid {
			from = 0
		}
		to = from
	}
	before, err := db.logPosition(ctx, "SELECT max(idx) FROM log_leaves WHERE idx < $1 AND decided_at < $2", int64(from), db.d.timeArg(since))
	if err != nil {
		return 0, 0, err
	}
	from = 0
	if before.Valid {
		from = uint64(before.Int64) + 1
	}
	after, err := db.logPosition(ctx, "SELECT min(idx) FROM log_leaves WHERE idx >= $1 AND decided_at >= $2", int64(to), db.d.timeArg(until))
	if err != nil {
		return 0, 0, err
	}
	if after.Valid {
		return from, uint64(after.Int64), nil
	}
	end, err := db.logPosition(ctx, "SELECT max(idx) FROM log_leaves")
	if err != nil {
		return 0, 0, err
	}
	if !end.Valid {
		return from, from, nil
	}
	return from, uint64(end.Int64) + 1, nil
}

// logPosition runs a query for one log position (NULL: none).
func (db *DB) logPosition(ctx context.Context, query string, args ...any) (sql.NullInt64, error) {
	var n sql.NullInt64
	err := db.sql.QueryRowContext(ctx, query, args...).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("store: log range: %w", err)
	}
	return n, nil
}
