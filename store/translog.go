package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	Time       time.Time
	Hash       []byte
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
}

// UnloggedDecisions returns up to limit committed records not yet in the log, oldest first.
func (db *DB) UnloggedDecisions(ctx context.Context, limit int) ([]Decision, error) {
	ds, err := queryAll(ctx, db.sql, scanDecision, "SELECT "+decisionColumns+
		" FROM decisions WHERE log_index IS NULL ORDER BY decided_at, id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("store: unlogged decisions: %w", err)
	}
	return ds, nil
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var size sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT max(size) FROM log_checkpoints").Scan(&size); err != nil {
			return err
		}
		if uint64(size.Int64) != a.FromSize {
			return fmt.Errorf("%w: the log has %d records, not %d", ErrConflict, size.Int64, a.FromSize)
		}
		for part := range rowChunks(a.Leaves) {
			if err := db.appendLeaves(ctx, tx, part); err != nil {
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

// appendLeaves gives records their log index and stores their leaves, a statement each for
// many records; ErrConflict when one was logged meanwhile or is gone.
func (db *DB) appendLeaves(ctx context.Context, tx *sql.Tx, leaves []LogLeaf) error {
	index := make([]any, 0, 2*len(leaves))
	rows := make([]any, 0, 4*len(leaves))
	for _, l := range leaves {
		index = append(index, int64(l.Index), l.DecisionID)
		rows = append(rows, int64(l.Index), l.DecisionID, db.d.timeArg(l.Time), l.Hash)
	}
	res, err := db.txExec(ctx, tx, "UPDATE decisions SET log_index = v.column1 FROM (VALUES "+indexRows(len(leaves))+
		") AS v WHERE decisions.id = v.column2 AND decisions.log_index IS NULL", index...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != int64(len(leaves)) {
		return fmt.Errorf("%w: of %d decisions, %d are logged already or gone", ErrConflict, len(leaves), int64(len(leaves))-n)
	}
	_, err = db.txExec(ctx, tx, "INSERT INTO log_leaves (idx, decision_id, decided_at, leaf_hash) VALUES "+valueRows(len(leaves), 4, ""), rows...)
	return err
}

// indexRows is the VALUES list of n (log index, decision id) rows, typed for both databases.
func indexRows(n int) string {
	var b strings.Builder
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(CAST($%d AS BIGINT), CAST($%d AS TEXT))", 2*r+1, 2*r+2)
	}
	return b.String()
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
			" FROM decisions WHERE log_index >= $1 AND log_index < $2 ORDER BY log_index LIMIT $3", int64(from), int64(to), logPage)
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

// LogRange returns the positions [from, to) of the leaves logged for records decided in
// [since, until) (zero times: unbounded), by the leaves' own times.
func (db *DB) LogRange(ctx context.Context, since, until time.Time) (from, to uint64, err error) {
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	if until.IsZero() {
		until = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	var lo, hi sql.NullInt64
	err = db.sql.QueryRowContext(ctx, "SELECT min(idx), max(idx) FROM log_leaves WHERE decided_at >= $1 AND decided_at < $2",
		db.d.timeArg(since), db.d.timeArg(until)).Scan(&lo, &hi)
	if err != nil {
		return 0, 0, fmt.Errorf("store: log range: %w", err)
	}
	if !lo.Valid {
		return 0, 0, nil
	}
	return uint64(lo.Int64), uint64(hi.Int64) + 1, nil
}
