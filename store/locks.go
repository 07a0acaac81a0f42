package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Kinds of lock.
const (
	// LockUser locks a user (Target is the subject, e.g. bob@example.com).
	LockUser = "user"
	// LockHost locks a Host (Target is its name).
	LockHost = "host"
	// LockSession locks one session (Target is its id).
	LockSession = "session"
)

// Page sizes of ListLocks.
const (
	// DefaultLockLimit is the page size when LockFilter.Limit is 0.
	DefaultLockLimit = 500
	// MaxLockLimit is the largest page ListLocks returns.
	MaxLockLimit = 1000
)

// lockPageSize is how many locks one read of EachActiveLock returns.
const lockPageSize = 1000

// Lock stops a user, a Host or a session: matching live sessions end and new connects are
// refused. Locks are never deleted; unlocking records who removed the lock and when.
type Lock struct {
	// ID names the lock.
	ID string
	// Kind is LockUser, LockHost or LockSession.
	Kind string
	// Target is the locked subject, host name or session id.
	Target string
	// Reason is shown to refused users and recorded in decisions.
	Reason string
	// CreatedBy is the administrator who locked.
	CreatedBy string
	// CreatedAt is when the lock was made.
	CreatedAt time.Time
	// ExpiresAt ends the lock by itself; nil means until unlocked.
	ExpiresAt *time.Time
	// RemovedBy is the administrator who unlocked ("" while in force).
	RemovedBy string
	// RemovedAt is when the lock was removed; nil while in force.
	RemovedAt *time.Time
}

// ActiveAt reports whether the lock is in force at t.
func (l Lock) ActiveAt(t time.Time) bool {
	return l.RemovedAt == nil && (l.ExpiresAt == nil || t.Before(*l.ExpiresAt))
}

// LockTarget names one thing a lock may stop.
type LockTarget struct {
	Kind, Target string
}

// lockColumns lists locks' columns in scanLock's order.
const lockColumns = "id, kind, target, reason, created_by, created_at, expires_at, removed_by, removed_at"

func scanLock(r rowScanner) (Lock, error) {
	var l Lock
	err := r.Scan(&l.ID, &l.Kind, &l.Target, &l.Reason, &l.CreatedBy, scanTime(&l.CreatedAt),
		scanNullTime(&l.ExpiresAt), &l.RemovedBy, scanNullTime(&l.RemovedAt))
	return l, err
}

// validLockKind reports whether kind is one of the lock kinds.
func validLockKind(kind string) bool {
	return kind == LockUser || kind == LockHost || kind == LockSession
}

// CreateLock stores a new lock. ErrInvalid for a missing id, target, reason or creation time
// or an unknown kind; ErrConflict for a duplicate id.
func (db *DB) CreateLock(ctx context.Context, l Lock) error {
	if err := requireID("lock", l.ID); err != nil {
		return fmt.Errorf("store: create lock: %w", err)
	}
	if !validLockKind(l.Kind) || l.Target == "" || l.Reason == "" || l.CreatedAt.IsZero() {
		return fmt.Errorf("store: create lock %q: %w: kind must be user, host or session, with a target, a reason and a time", l.ID, ErrInvalid)
	}
	var expires any
	if l.ExpiresAt != nil {
		expires = db.d.timeArg(*l.ExpiresAt)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return db.insert(ctx, tx, "INSERT INTO locks ("+lockColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, '', NULL)",
			l.ID, l.Kind, l.Target, l.Reason, l.CreatedBy, db.d.timeArg(l.CreatedAt), expires)
	})
	if err != nil {
		return fmt.Errorf("store: create lock %q: %w", l.ID, err)
	}
	return nil
}

// RemoveLock records that by removed the lock at t. ErrNotFound when no lock with this id is
// in force (unknown, or already removed).
func (db *DB) RemoveLock(ctx context.Context, id, by string, t time.Time) (Lock, error) {
	var l Lock
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, "UPDATE locks SET removed_by = $1, removed_at = $2 WHERE id = $3 AND removed_at IS NULL",
			by, db.d.timeArg(t), id); err != nil {
			return err
		}
		var err error
		l, err = queryOne(ctx, tx, scanLock, "SELECT "+lockColumns+" FROM locks WHERE id = $1", id)
		return err
	})
	if err != nil {
		return Lock{}, fmt.Errorf("store: remove lock %q: %w", id, err)
	}
	return l, nil
}

// GetLock returns the lock with this id; ErrNotFound.
func (db *DB) GetLock(ctx context.Context, id string) (Lock, error) {
	l, err := queryOne(ctx, db.sql, scanLock, "SELECT "+lockColumns+" FROM locks WHERE id = $1", id)
	if err != nil {
		return Lock{}, fmt.Errorf("store: get lock %q: %w", id, err)
	}
	return l, nil
}

// ActiveLocks returns the locks in force at t on any of the targets, oldest first.
func (db *DB) ActiveLocks(ctx context.Context, t time.Time, targets ...LockTarget) ([]Lock, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	w := &where{}
	db.lockedTargets(w, t, targets)
	query := "SELECT " + lockColumns + " FROM locks" + w.String() + " ORDER BY created_at, id"
	ls, err := queryAll(ctx, prepared{db}, scanLock, query, w.args...) // a connect's: two targets
	if err != nil {
		return nil, fmt.Errorf("store: active locks: %w", err)
	}
	return ls, nil
}

// lockedTargets adds to w the conditions of a lock in force at t on any of the targets.
func (db *DB) lockedTargets(w *where, t time.Time, targets []LockTarget) {
	db.inForceAt(w, t)
	match := make([]string, 0, len(targets))
	args := make([]any, 0, 2*len(targets))
	for _, tg := range targets {
		match = append(match, "(kind = ? AND target = ?)")
		args = append(args, tg.Kind, tg.Target)
	}
	w.add("("+strings.Join(match, " OR ")+")", args...)
}

// LockFilter selects the locks ListLocks lists.
type LockFilter struct {
	// Active keeps the locks in force at At; otherwise removed and expired ones are listed too.
	Active bool
	// At is the time Active judges by.
	At time.Time
	// After, when set, is the cursor ListLocks returned with the previous page.
	After string
	// Limit bounds the page (DefaultLockLimit when 0, at most MaxLockLimit).
	Limit int
}

// ListLocks returns a page of the locks f selects, newest first (by creation, then id), and the
// cursor of the next page ("" after the last), by keyset as ListSessions. ErrInvalid for a
// cursor ListLocks did not make.
func (db *DB) ListLocks(ctx context.Context, f LockFilter) ([]Lock, string, error) {
	w := &where{}
	if f.Active {
		db.inForceAt(w, f.At)
	}
	if err := db.addBefore(w, "created_at", f.After); err != nil {
		return nil, "", fmt.Errorf("store: list locks: %w", err)
	}
	query := "SELECT " + lockColumns + " FROM locks" + w.String() + " ORDER BY created_at DESC, id DESC"
	ls, next, err := queryPage(ctx, db.sql, scanLock, query, w.args, clampLimit(f.Limit, DefaultLockLimit, MaxLockLimit), LockCursor)
	if err != nil {
		return nil, "", fmt.Errorf("store: list locks: %w", err)
	}
	return ls, next, nil
}

// LockCursor is the cursor of the page of ListLocks that follows l.
func LockCursor(l Lock) string { return encodeCursor(l.CreatedAt, l.ID) }

// EachActiveLock calls fn with every lock in force at t, oldest first, reading them a page at
// a time. There is no cap: an enforcement pass that missed a lock would leave what it locks
// running.
func (db *DB) EachActiveLock(ctx context.Context, t time.Time, fn func(Lock) error) error {
	return eachPage(lockPageSize, func(after *Lock) ([]Lock, error) {
		w := &where{}
		db.inForceAt(w, t)
		if after != nil {
			w.add("(created_at, id) > (?, ?)", db.d.timeArg(after.CreatedAt), after.ID)
		}
		query := fmt.Sprintf("SELECT %s FROM locks%s ORDER BY created_at, id LIMIT %d", lockColumns, w, lockPageSize)
		page, err := queryAll(ctx, db.sql, scanLock, query, w.args...)
		if err != nil {
			return nil, fmt.Errorf("store: locks in force: %w", err)
		}
		return page, nil
	}, func(page []Lock) error {
		for _, l := range page {
			if err := fn(l); err != nil {
				return err
			}
		}
		return nil
	})
}

// inForceAt keeps, in w, the locks in force at t: not removed, not expired (Lock.ActiveAt).
func (db *DB) inForceAt(w *where, t time.Time) {
	w.add(inForceSQL("", "?"), db.d.timeArg(t))
}

// inForceSQL is the condition that a lock (its columns prefixed with prefix) is in force at
// the time at, an SQL expression.
func inForceSQL(prefix, at string) string {
	return prefix + "removed_at IS NULL AND (" + prefix + "expires_at IS NULL OR " + prefix + "expires_at > " + at + ")"
}
