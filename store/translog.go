package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The transparency log's storage (package translog has the log itself). Records are
// committed with their signature and no position; the sequencer, one replica at a time under
// the singleton lease, takes the unlogged ones in (decided_at, id) order and appends them with
// AppendLog, which assigns positions after the latest checkpoint, in one transaction that
// fails (ErrConflict) when another sequencer got there first: positions have no gaps and no
// duplicates.

// LogLeaf is one leaf of the tree: the record logged at Index and its leaf hash.
type LogLeaf struct {
	Index      uint64
	DecisionID string
	// Time is the record's decision time (its decided_at), by which the queue finds it.
	Time time.Time
	Hash []byte
}

// LogNode is one stored node of the tree: a leaf (level 0) or a perfect subtree's root.
type LogNode struct {
	Level uint
	Index uint64
	Hash  []byte
}

// LogCheckpoint is a signed statement of the tree's size and root.
type LogCheckpoint struct {
	Size     uint64
	Root     []byte
	Note     string
	SignedAt time.Time
}

// LogAppend is one step of the sequencer: the leaves appended after a tree of FromSize, the
// nodes they complete and the checkpoint of the new tree.
type LogAppend struct {
	FromSize   uint64
	Leaves     []LogLeaf
	Nodes      []LogNode
	Checkpoint LogCheckpoint
	// DropVanished also takes out of the queue, up to the last leaf, the records deleted before
	// they were logged (behind the CM's back), which UnloggedDecisions skips meanwhile. It scans
	// the queue from its start, past every entry deleted since PostgreSQL last vacuumed it, so
	// the sequencer asks for it now and then, not at every step.
	DropVanished bool
}

// UnloggedDecisions returns up to limit committed records not yet in the log (log_queue),
// oldest first.
func (db *DB) UnloggedDecisions(ctx context.Context, limit int) ([]Decision, error) {
	ds, err := queryAll(ctx, db.sql, scanDecision, "SELECT "+decisionColumns+
		" FROM log_queue q JOIN decisions ON decisions.id = q.decision_id ORDER BY q.decided_at, q.decision_id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("store: unlogged decisions: %w", err)
	}
	return ds, nil
}

// DecisionsNotLogged returns up to limit records decided in [since, until) (zero times:
// unbounded) that have no place in the log, oldest first: those the sequencer has yet to log,
// and any written behind the CM's back, outside its queue.
func (db *DB) DecisionsNotLogged(ctx context.Context, since, until time.Time, limit int) ([]Decision, error) {
	since, until = wholeTime(since, until)
	ds, err := queryAll(ctx, db.sql, scanDecision, "SELECT "+decisionColumns+" FROM decisions"+
		" WHERE decided_at >= $1 AND decided_at < $2 AND NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.decision_id = decisions.id)"+
		" ORDER BY decided_at, id LIMIT $3", db.d.timeArg(since), db.d.timeArg(until), limit)
	if err != nil {
		return nil, fmt.Errorf("store: decisions not logged: %w", err)
	}
	return ds, nil
}

// wholeTime bounds an unbounded window [since, until) (zero times) by times before and after
// every record.
func wholeTime(since, until time.Time) (time.Time, time.Time) {
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	if until.IsZero() {
		until = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return since, until
}

// LatestCheckpoint returns the newest checkpoint; ErrNotFound before the first.
func (db *DB) LatestCheckpoint(ctx context.Context) (LogCheckpoint, error) {
	cp, err := queryOne(ctx, db.sql, scanCheckpoint, "SELECT size, root, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1")
	if err != nil {
		return cp, fmt.Errorf("store: latest checkpoint: %w", err)
	}
	return cp, nil
}

// Checkpoint returns the checkpoint of the tree of size; ErrNotFound when none was signed.
func (db *DB) Checkpoint(ctx context.Context, size uint64) (LogCheckpoint, error) {
	cp, err := queryOne(ctx, db.sql, scanCheckpoint, "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size = $1", int64(size))
	if err != nil {
		return cp, fmt.Errorf("store: checkpoint %d: %w", size, err)
	}
	return cp, nil
}

func scanCheckpoint(r rowScanner) (LogCheckpoint, error) {
	var cp LogCheckpoint
	var size int64
	err := r.Scan(&size, &cp.Root, &cp.Note, scanTime(&cp.SignedAt))
	cp.Size = uint64(size)
	return cp, err
}

// LogNodeHashes returns the hashes of the named nodes, in order; ErrNotFound when one is
// missing.
func (db *DB) LogNodeHashes(ctx context.Context, nodes []LogNode) ([][]byte, error) {
	out := make([][]byte, len(nodes))
	for i, n := range nodes {
		err := db.sql.QueryRowContext(ctx, "SELECT hash FROM log_nodes WHERE lvl = $1 AND idx = $2", int(n.Level), int64(n.Index)).Scan(&out[i])
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("store: log node %d/%d: %w", n.Level, n.Index, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("store: log node %d/%d: %w", n.Level, n.Index, err)
		}
	}
	return out, nil
}

// AppendLog records one step of the sequencer in one transaction; ErrConflict when the
// latest checkpoint is no longer of FromSize or a record was logged meanwhile.
func (db *DB) AppendLog(ctx context.Context, a LogAppend) error {
	err := db.inTxFor(ctx, workLog, func(tx *sql.Tx) error {
		var size sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT max(size) FROM log_checkpoints").Scan(&size); err != nil {
			return err
		}
		if uint64(size.Int64) != a.FromSize {
			return fmt.Errorf("%w: the log has %d records, not %d", ErrConflict, size.Int64, a.FromSize)
		}
		first, last := timeSpan(a.Leaves)
		for part := range rowChunks(a.Leaves) {
			if err := db.appendLeaves(ctx, tx, part, first, last); err != nil {
				return err
			}
		}
		if a.DropVanished {
			if err := db.dropVanished(ctx, tx, last); err != nil {
				return err
			}
		}
		for part := range rowChunks(a.Nodes) {
			args := make([]any, 0, 3*len(part))
			for _, n := range part {
				args = append(args, int(n.Level), int64(n.Index), n.Hash)
			}
			if _, err := db.txExec(ctx, tx, "INSERT INTO log_nodes (lvl, idx, hash) VALUES "+valueRows(len(part), 3, ""), args...); err != nil {
				return err
			}
		}
		cp := a.Checkpoint
		_, err := tx.ExecContext(ctx, "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)",
			int64(cp.Size), cp.Root, cp.Note, db.d.timeArg(cp.SignedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: append %d records to the log: %w", len(a.Leaves), err)
	}
	return nil
}

// appendLeaves takes records, all decided in [first, last], out of the sequencer's queue and
// stores their leaves, a statement each for many records; ErrConflict when one was logged
// meanwhile.
func (db *DB) appendLeaves(ctx context.Context, tx *sql.Tx, leaves []LogLeaf, first, last time.Time) error {
	ids := make([]string, len(leaves))
	rows := make([]any, 0, 4*len(leaves))
	for i, l := range leaves {
		ids[i] = l.DecisionID
		rows = append(rows, int64(l.Index), l.DecisionID, db.d.timeArg(l.Time), l.Hash)
	}
	// The queue's key leads with the time: the range finds the rows without a scan.
	in, args := inList(ids)
	n := len(leaves)
	res, err := db.txExec(ctx, tx, fmt.Sprintf("DELETE FROM log_queue WHERE decided_at >= $%d AND decided_at <= $%d AND decision_id IN (%s)", n+1, n+2, in),
		append(args, db.d.timeArg(first), db.d.timeArg(last))...)
	if err != nil {
		return err
	}
	deleted, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if deleted != int64(n) {
		return fmt.Errorf("%w: of %d decisions, %d are logged already", ErrConflict, n, int64(n)-deleted)
	}
	// A record logged twice, or a position taken twice, breaks a unique key.
	return db.insert(ctx, tx, "INSERT INTO log_leaves (idx, decision_id, decided_at, leaf_hash) VALUES "+valueRows(n, 4, ""), rows...)
}

// dropVanished takes out of the sequencer's queue, up to last, the records deleted before
// they were logged (behind the CM's back), as OutboxDecisions reports them for the outbox;
// the sequencer's reads skip them meanwhile.
func (db *DB) dropVanished(ctx context.Context, tx *sql.Tx, last time.Time) error {
	_, err := db.txExec(ctx, tx, "DELETE FROM log_queue WHERE decided_at <= $1"+
		" AND NOT EXISTS (SELECT 1 FROM decisions WHERE decisions.id = log_queue.decision_id)", db.d.timeArg(last))
	return err
}

// timeSpan returns the earliest and the latest of leaves' times (zero times for none).
func timeSpan(leaves []LogLeaf) (first, last time.Time) {
	for i, l := range leaves {
		if i == 0 || l.Time.Before(first) {
			first = l.Time
		}
		if i == 0 || l.Time.After(last) {
			last = l.Time
		}
	}
	return first, last
}

// logPage is how many rows the log's readers fetch per query.
const logPage = 1000

// EachLogLeaf calls fn with every leaf at positions [from, to), in order.
func (db *DB) EachLogLeaf(ctx context.Context, from, to uint64, fn func(LogLeaf) error) error {
	for from < to {
		leaves, err := queryAll(ctx, db.sql, func(r rowScanner) (LogLeaf, error) {
			var l LogLeaf
			var idx int64
			err := r.Scan(&idx, &l.DecisionID, scanTime(&l.Time), &l.Hash)
			l.Index = uint64(idx)
			return l, err
		}, "SELECT idx, decision_id, decided_at, leaf_hash FROM log_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3",
			int64(from), int64(to), logPage)
		if err != nil {
			return fmt.Errorf("store: log leaves from %d: %w", from, err)
		}
		if len(leaves) == 0 {
			return nil
		}
		for _, l := range leaves {
			if err := fn(l); err != nil {
				return err
			}
		}
		from = leaves[len(leaves)-1].Index + 1
	}
	return nil
}

// EachLoggedDecision calls fn with every record logged at positions [from, to), in order.
func (db *DB) EachLoggedDecision(ctx context.Context, from, to uint64, fn func(Decision) error) error {
	for from < to {
		ds, err := queryAll(ctx, db.sql, scanDecision, "SELECT "+decisionColumns+
			" FROM log_leaves l JOIN decisions ON decisions.id = l.decision_id WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx LIMIT $3",
			int64(from), int64(to), logPage)
		if err != nil {
			return fmt.Errorf("store: logged decisions from %d: %w", from, err)
		}
		if len(ds) == 0 {
			return nil
		}
		for _, d := range ds {
			if err := fn(d); err != nil {
				return err
			}
		}
		from = *ds[len(ds)-1].LogIndex + 1
	}
	return nil
}
