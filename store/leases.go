package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LeaseSingleton names the lease under which one CM replica does the work that writes shared
// state once for the whole system: lost-relay sweeps and re-evaluation of live sessions.
const LeaseSingleton = "singleton"

// Leases are timed on the database's clock, never the caller's: every replica compares
// expiry against the same clock, so skew between replicas cannot let one take a lease another
// still holds. A holder should count its lease as lost ttl after it sent AcquireLease (on its
// own monotonic clock): the database's expiry is at least that late.

// acquireLeaseSQL takes the lease when it is free, expired or already the caller's, in one
// statement; a row comes back only when the caller holds it afterwards. %[1]s is the
// database's now, %[2]s the new expiry.
const acquireLeaseSQL = `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, %[2]s)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= %[1]s
RETURNING holder`

// AcquireLease takes or renews the lease name for holder until ttl from now on the database's
// clock, and reports whether holder holds it. Two holders never both hold one lease.
// ErrInvalid for an empty name or holder or a ttl under a millisecond.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl < time.Millisecond {
		return false, fmt.Errorf("store: acquire lease %q: %w: name, holder and a ttl of at least 1ms are required", name, ErrInvalid)
	}
	q := fmt.Sprintf(acquireLeaseSQL, db.d.dbNow(), db.d.dbNowPlus("$3"))
	var got string
	err := db.write(ctx, func(w execQuerier) error {
		return w.QueryRowContext(ctx, q, name, holder, ttl.Microseconds()).Scan(&got)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: acquire lease %q: %w", name, err)
	}
	return got == holder, nil
}

// ReleaseLease gives up holder's lease name, so another may take it at once; it does nothing
// when holder does not hold it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	err := db.write(ctx, func(q execQuerier) error {
		_, err := q.ExecContext(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release lease %q: %w", name, err)
	}
	return nil
}

// LeaseHolder returns the holder of the lease name while it has not expired on the database's
// clock, or "" when nobody holds it.
func (db *DB) LeaseHolder(ctx context.Context, name string) (string, error) {
	q := fmt.Sprintf("SELECT holder FROM leases WHERE name = $1 AND expires_at > %s", db.d.dbNow())
	var holder string
	err := db.sql.QueryRowContext(ctx, q, name).Scan(&holder)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("store: lease holder %q: %w", name, err)
	}
	return holder, nil
}

// SharedByReplicas reports whether several CM processes may share this database (PostgreSQL,
// CockroachDB); a SQLite file serves one CM, which holds every lease trivially.
func (db *DB) SharedByReplicas() bool { return db.d.kind != kindSQLite }
