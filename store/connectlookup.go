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
// fewer per connect.
func (db *DB) HostAndLocks(ctx context.Context, name string, t time.Time, targets ...LockTarget) (Host, []Lock, error) {
	if db.d.kind != kindPostgres || len(targets) == 0 {
		return db.hostThenLocks(ctx, name, t, targets)
	}
	// The Host's row and the locks' rows, each padded with NULLs to the other's columns: a row
	// with a Host id is the Host's.
	hostCols, lockCols := strings.Count(hostColumns, ",")+1, strings.Count(lockColumns, ",")+1
	w := &where{args: []any{name}}
	db.lockedTargets(w, t, targets)
	query := "SELECT " + hostColumns + ", " + nulls(lockCols) + " FROM hosts WHERE name = $1" +
		" UNION ALL SELECT " + nulls(hostCols) + ", " + lockColumns + " FROM locks" + w.String()
	rows, err := db.sql.QueryContext(ctx, query, w.args...)
	if err != nil {
		return Host{}, nil, fmt.Errorf("store: host %q and its locks: %w", name, err)
	}
	defer rows.Close()
	var h Host
	var locks []Lock
	for rows.Next() {
		var id sql.NullString
		if err := (paddedRow{rows, 0, hostCols + lockCols - 1}).Scan(&id); err != nil {
			return Host{}, nil, fmt.Errorf("store: host %q and its locks: %w", name, err)
		}
		if id.Valid {
			h, err = scanHost(paddedRow{rows, 0, lockCols})
		} else {
			var l Lock
			l, err = scanLock(paddedRow{rows, hostCols, 0})
			locks = append(locks, l)
		}
		if err != nil {
			return Host{}, nil, fmt.Errorf("store: host %q and its locks: %w", name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return Host{}, nil, fmt.Errorf("store: host %q and its locks: %w", name, err)
	}
	slices.SortFunc(locks, func(a, b Lock) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return h, locks, nil
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
