package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// HostAndLocks is what a connect reads before it is decided: the Host named name (the zero
// Host when there is none) and the locks in force at t on any of the targets, oldest first,
// as GetHostByName and ActiveLocks give them. On PostgreSQL it is one statement, a round trip
// fewer per connect, and concurrent calls share one (lookupBatch): the first that finds none
// running sends its own, those that arrive meanwhile go together in the next. Either way the
// statement that answers a call begins after the call: a lock committed before it is seen.
func (db *DB) HostAndLocks(ctx context.Context, name string, t time.Time, targets ...LockTarget) (Host, []Lock, error) {
	if db.d.kind != kindPostgres || len(targets) == 0 {
		return db.hostThenLocks(ctx, name, t, targets)
	}
	p := &pendingLookup{ctx: ctx, name: name, at: normTime(t), targets: targets, done: make(chan error, 1)}
	if err := db.lookups.submit(ctx, db.lookupBatch, p, p.done, nil); err != nil {
		return Host{}, nil, fmt.Errorf("store: host %q and its locks: %w", name, err)
	}
	return p.host, p.locks, nil
}

// pendingLookup is one HostAndLocks call waiting for its statement; host and locks are its
// outcome once done has received nil.
type pendingLookup struct {
	ctx     context.Context // the caller's
	name    string
	at      time.Time
	targets []LockTarget
	host    Host
	locks   []Lock
	done    chan error
}

func (p *pendingLookup) callerContext() context.Context { return p.ctx }
func (p *pendingLookup) outcome() chan<- error          { return p.done }

// lookupBatch answers a batch of HostAndLocks calls with one statement (one alone with
// hostAndLocksSQL, more with lookupManySQL), as answerTogether does: bounded by the callers'
// deadlines, and each call again alone when the shared statement fails.
func (db *DB) lookupBatch(ctx context.Context, batch []*pendingLookup) {
	answerTogether(ctx, batch, db.lookUp)
}

// The lookup statements' rows carry the call's place in the batch (from 1), then the Host's
// columns, then the lock's: a row carries one or the other, with NULLs in the other's place.

// hostAndLocksSQL is the lookup of one call, with where's arguments after the Host's name ($1).
func hostAndLocksSQL(w *where) string {
	return "SELECT 1, " + hostColumns + ", " + nulls(columnCount(lockColumns)) + " FROM hosts WHERE name = $1" +
		" UNION ALL SELECT 1, " + nulls(columnCount(hostColumns)) + ", " + lockColumns + " FROM locks" + w.String()
}

// lookupManySQL is the lookup of many calls: the Hosts named in $1, the nth call's the nth,
// and the locks in force on the targets in $3 and $4 (kinds and targets), each at the time in
// $5 of the call in $2 (its place in $1, from 1).
func lookupManySQL() string {
	return "WITH q AS (SELECT * FROM unnest($1::text[]) WITH ORDINALITY AS q (name, n))," +
		" lt AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[]) AS lt (n, kind, target, at))" +
		" SELECT q.n, " + qualified("hosts", hostColumns) + ", " + nulls(columnCount(lockColumns)) +
		" FROM q JOIN hosts ON hosts.name = q.name" +
		" UNION ALL SELECT lt.n, " + nulls(columnCount(hostColumns)) + ", " + qualified("locks", lockColumns) +
		" FROM lt JOIN locks ON locks.kind = lt.kind AND locks.target = lt.target AND " + inForceSQL("locks.", "lt.at")
}

// columnCount is the number of columns in a column list.
func columnCount(cols string) int { return strings.Count(cols, ",") + 1 }

// qualified is a column list with each column qualified by table.
func qualified(table, cols string) string {
	return table + "." + strings.ReplaceAll(cols, ", ", ", "+table+".")
}

// lookUp answers batch's calls with one statement and sets each one's Host and locks.
func (db *DB) lookUp(ctx context.Context, batch []*pendingLookup) error {
	var rows *sql.Rows
	var err error
	if len(batch) == 1 {
		w := &where{args: []any{batch[0].name}}
		db.lockedTargets(w, batch[0].at, batch[0].targets)
		rows, err = db.sql.QueryContext(ctx, hostAndLocksSQL(w), w.args...)
	} else {
		rows, err = db.sql.QueryContext(ctx, lookupManySQL(), lookupArgs(batch)...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for _, p := range batch {
		p.host, p.locks = Host{}, nil
	}
	if err := settleLookups(rows, batch); err != nil {
		return err
	}
	for _, p := range batch {
		slices.SortFunc(p.locks, func(a, b Lock) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
		})
	}
	return nil
}

// lookupArgs are lookupManySQL's arguments for batch.
func lookupArgs(batch []*pendingLookup) []any {
	names := make([]string, len(batch))
	var calls []int64
	var kinds, targets []string
	var times []time.Time
	for i, p := range batch {
		names[i] = p.name
		for _, tg := range p.targets {
			calls, kinds, targets, times = append(calls, int64(i+1)), append(kinds, tg.Kind), append(targets, tg.Target), append(times, p.at)
		}
	}
	return []any{names, calls, kinds, targets, times}
}

// settleLookups reads the lookup statements' rows into batch's calls.
func settleLookups(rows *sql.Rows, batch []*pendingLookup) error {
	hostCols, lockCols := columnCount(hostColumns), columnCount(lockColumns)
	for rows.Next() {
		var n int64
		var id sql.NullString
		if err := (paddedRow{rows, 0, hostCols + lockCols - 1}).Scan(&n, &id); err != nil {
			return err
		}
		if n < 1 || n > int64(len(batch)) {
			return fmt.Errorf("a row of call %d in a batch of %d", n, len(batch))
		}
		p := batch[n-1]
		if id.Valid {
			h, err := scanHost(paddedRow{rows, 1, lockCols})
			if err != nil {
				return err
			}
			p.host = h
			continue
		}
		l, err := scanLock(paddedRow{rows, 1 + hostCols, 0})
		if err != nil {
			return err
		}
		p.locks = append(p.locks, l)
	}
	return rows.Err()
}

// hostThenLocks is HostAndLocks in two statements.
func (db *DB) hostThenLocks(ctx context.Context, name string, t time.Time, targets []LockTarget) (Host, []Lock, error) {
	h, err := db.GetHostByName(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Host{}, nil, err
	}
	locks, err := db.ActiveLocks(ctx, t, targets...)
	if err != nil {
		return Host{}, nil, err
	}
	return h, locks, nil
}

// nulls is n NULL columns of a SELECT list.
func nulls(n int) string { return strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") }

// paddedRow scans a row's columns from the before'th, leaving before columns in front and
// after columns behind unread (they may be NULL).
type paddedRow struct {
	rows          *sql.Rows
	before, after int
}

// Scan scans the row's columns between the padding into dest.
func (p paddedRow) Scan(dest ...any) error {
	all := make([]any, 0, p.before+len(dest)+p.after)
	for range p.before {
		all = append(all, new(any))
	}
	all = append(all, dest...)
	for range p.after {
		all = append(all, new(any))
	}
	return p.rows.Scan(all...)
}
