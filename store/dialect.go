package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"               // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// This file holds every difference between the SQL databases the store speaks. The queries
// elsewhere are shared: all three accept $N placeholders, INSERT … ON CONFLICT … DO UPDATE
// with excluded.*, partial indexes and row limits.
//
//	                 SQLite                  PostgreSQL               CockroachDB
//	time column      INTEGER (unix µs, UTC)  TIMESTAMPTZ              TIMESTAMPTZ
//	bytes column     BLOB                    BYTEA                    BYTEA
//	bool column      INTEGER 0/1             BOOLEAN                  BOOLEAN
//	write tx         BEGIN IMMEDIATE         SERIALIZABLE + retry     crdb.ExecuteTx
//	retried on       SQLITE_BUSY             40001, 40P01 (also at    40001 (crdb's rules)
//	                                         COMMIT)
//	migration lock   BEGIN IMMEDIATE         pg_advisory_xact_lock    version-row claim
//	case-insensitive LIKE (ASCII)            ILIKE                    ILIKE
//	database's now   julianday('now') as µs  now()                    now()
//	record + outbox  two statements          one (INSERT in a WITH)   one (INSERT in a WITH)

// Transaction retry limits.
const (
	// maxTxAttempts bounds how often one transaction is run before its retryable error is returned.
	maxTxAttempts = 10
	// txBackoffMin is the pause before the second attempt; it doubles per attempt (with jitter).
	txBackoffMin = 2 * time.Millisecond
	// txBackoffMax caps the pause between two attempts.
	txBackoffMax = 250 * time.Millisecond
)

// migrationLockKey is the PostgreSQL advisory lock id that serializes migrations across
// processes ("portcull" in ASCII).
const migrationLockKey int64 = 0x706f727463756c6c

// PostgreSQL SQLSTATE codes the store reacts to.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
)

// kind names the database family behind a DB.
type kind int

// The supported database families.
const (
	kindSQLite kind = iota + 1
	kindPostgres
	kindCockroach
)

// String returns the family's name as logged.
func (k kind) String() string {
	switch k {
	case kindSQLite:
		return "sqlite"
	case kindPostgres:
		return "postgres"
	case kindCockroach:
		return "cockroach"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// dialect is the set of per-database choices; its zero value is not usable.
type dialect struct {
	kind kind
}

// driverName is the database/sql driver for the dialect.
func (d dialect) driverName() string {
	if d.kind == kindSQLite {
		return "sqlite"
	}
	return "pgx"
}

// expandTypes replaces the column type tokens of a migration ({{TIME}}, {{BYTES}}, {{BOOL}})
// and keeps only the dialect's blocks (dialectBlocks).
func (d dialect) expandTypes(ddl string) string {
	ddl = d.dialectBlocks(ddl)
	if d.kind == kindSQLite {
		return strings.NewReplacer("{{TIME}}", "INTEGER", "{{BYTES}}", "BLOB", "{{BOOL}}", "INTEGER").Replace(ddl)
	}
	return strings.NewReplacer("{{TIME}}", "TIMESTAMPTZ", "{{BYTES}}", "BYTEA", "{{BOOL}}", "BOOLEAN").Replace(ddl)
}

// dialectBlocks keeps the lines of ddl outside blocks, and those of the blocks for the dialect:
// a block starts with a line "-- {{IF name,…}}" naming database families (kind.String()) and
// ends with a line "-- {{END}}"; blocks do not nest. A migration whose DDL differs per database
// (an index only one of them has) says so with them.
func (d dialect) dialectBlocks(ddl string) string {
	if !strings.Contains(ddl, "-- {{IF ") {
		return ddl
	}
	var b strings.Builder
	keep := true
	for line := range strings.Lines(ddl) {
		trimmed := strings.TrimSpace(line)
		if names, ok := strings.CutPrefix(trimmed, "-- {{IF "); ok {
			keep = slices.Contains(strings.Split(strings.TrimSuffix(names, "}}"), ","), d.kind.String())
			continue
		}
		if trimmed == "-- {{END}}" {
			keep = true
			continue
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String()
}

// timeArg encodes t as a query argument, truncated to microseconds in UTC; the zero time is NULL.
func (d dialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = normTime(t)
	if d.kind == kindSQLite {
		return t.UnixMicro()
	}
	return t
}

// dbNow is the SQL expression for the database's current time, in the time column's encoding;
// leases are timed by it so that replicas with skewed clocks agree on expiry.
func (d dialect) dbNow() string {
	if d.kind == kindSQLite {
		return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
	}
	return "now()"
}

// dbNowPlus is the SQL expression for the database's current time plus the microseconds in
// the BIGINT placeholder param.
func (d dialect) dbNowPlus(param string) string {
	if d.kind == kindSQLite {
		return "(" + d.dbNow() + " + " + param + ")"
	}
	return "(now() + " + param + "::BIGINT * INTERVAL '1 microsecond')"
}

// ilike is the operator for a case-insensitive LIKE.
func (d dialect) ilike() string {
	if d.kind == kindSQLite {
		return "LIKE" // SQLite's LIKE ignores ASCII case
	}
	return "ILIKE"
}

// migrationLock is the statement that opens every migration transaction ("" for none).
func (d dialect) migrationLock() string {
	if d.kind == kindPostgres {
		return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey)
	}
	return ""
}

// withQueues returns the statement that inserts n decisions (insertDecisionsSQL's arguments) and
// enters them in queueTables, or "" when the database needs an insertQueueSQL per queue after
// it: SQLite has no INSERT inside WITH, and runs in process, where a statement more costs no
// round trip.
func (d dialect) withQueues(n int) string {
	if d.kind == kindSQLite {
		return ""
	}
	var b strings.Builder
	b.WriteString("WITH d AS (" + insertDecisionsSQL(n) + " RETURNING id, decided_at)")
	for i, table := range queueTables[:len(queueTables)-1] {
		fmt.Fprintf(&b, ", q%d AS (INSERT INTO %s (decision_id, decided_at) SELECT id, decided_at FROM d)", i, table)
	}
	b.WriteString(" INSERT INTO " + queueTables[len(queueTables)-1] + " (decision_id, decided_at) SELECT id, decided_at FROM d")
	return b.String()
}

// txBackOff is the pause schedule between two attempts of a transaction.
func txBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: txBackoffMin, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: txBackoffMax}
}

// isConflict reports whether err is a unique or primary key violation.
func (d dialect) isConflict(err error) bool {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == pgUniqueViolation
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// retryable reports whether running the whole transaction again may succeed.
func (d dialect) retryable(err error) bool {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		return se.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	return false
}

// inTx runs fn in a read-write transaction with the dialect's isolation and retry rules.
// fn may run several times and must have no effect outside the transaction.
func (d dialect) inTx(ctx context.Context, db beginner, log *slog.Logger, fn func(*sql.Tx) error) error {
	switch d.kind {
	case kindCockroach:
		pool, ok := db.(*sql.DB)
		if !ok { // only SQLite's writers hold a connection of their own (writegate.go)
			return fmt.Errorf("store: a CockroachDB transaction runs on the pool, not on a %T", db)
		}
		return crdb.ExecuteTx(crdb.WithMaxRetries(ctx, maxTxAttempts-1), pool, nil, fn)
	case kindPostgres:
		return d.retryTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, log, fn)
	default:
		return d.retryTx(ctx, db, nil, log, fn) // BEGIN IMMEDIATE through the DSN's _txlock
	}
}

// inMigrationTx runs fn in the transaction that applies one migration. On PostgreSQL it is READ
// COMMITTED so that, once the advisory lock is held, it sees what the previous holder committed.
func (d dialect) inMigrationTx(ctx context.Context, db *sql.DB, log *slog.Logger, fn func(*sql.Tx) error) error {
	if d.kind == kindPostgres {
		return d.retryTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, log, fn)
	}
	return d.inTx(ctx, db, log, fn)
}

// retryTx runs fn in a transaction, again after a jittered, growing pause while the error (from
// fn or from COMMIT) is retryable, at most maxTxAttempts times.
func (d dialect) retryTx(ctx context.Context, db beginner, opts *sql.TxOptions, log *slog.Logger, fn func(*sql.Tx) error) error {
	attempts := 0
	var retrying error // the last attempt's error, while it is retryable
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempts++
		retrying = runTx(ctx, db, opts, fn)
		if retrying != nil && !d.retryable(retrying) {
			err := retrying
			retrying = nil
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, retrying
	},
		backoff.WithBackOff(txBackOff()),
		backoff.WithMaxTries(maxTxAttempts),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, _ time.Duration) {
			log.DebugContext(ctx, "retrying transaction", "attempt", attempts, "err", err)
		}),
	)
	switch {
	case retrying == nil: // success, or an error that is not retryable
		if p := (*backoff.PermanentError)(nil); errors.As(err, &p) {
			return p.Unwrap()
		}
		return err
	case attempts == maxTxAttempts:
		return fmt.Errorf("giving up after %d attempts: %w", attempts, retrying)
	default:
		return fmt.Errorf("%w (last attempt: %w)", err, retrying) // ctx ended during a pause
	}
}

// beginner is what *sql.DB and *sql.Conn have in common for transactions.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// runTx runs fn in one transaction and commits it, unless fn failed or ctx ended first.
//
// On a connection of its own (SQLite's writers', writegate.go) the transaction is begun outside
// ctx, and ended only here: database/sql rolls a transaction whose context ended back from a
// goroutine of its own, and on a connection the writers share the next writer's BEGIN could
// come before that ROLLBACK ("cannot start a transaction within a transaction"), or the
// ROLLBACK inside the next writer's transaction. fn's statements still run under ctx. On a
// pool the transaction keeps its connection until it is rolled back, and begins under ctx.
func runTx(ctx context.Context, db beginner, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	txCtx := ctx
	if _, shared := db.(*sql.Conn); shared {
		txCtx = context.WithoutCancel(ctx)
	}
	tx, err := db.BeginTx(txCtx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the transaction is void either way; fn's error is the one that matters
		return err
	}
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback() // the caller is gone: what it asked for is not committed
		return err
	}
	return tx.Commit()
}

// timeScanner scans a time column in either encoding (unix µs or timestamp) into t, or, when
// the column may be NULL, into p.
type timeScanner struct {
	t *time.Time
	p **time.Time
}

// scanTime returns a scanner for a NOT NULL time column; NULL becomes the zero time.
func scanTime(t *time.Time) *timeScanner { return &timeScanner{t: t} }

// scanNullTime returns a scanner for a nullable time column; NULL becomes nil.
func scanNullTime(p **time.Time) *timeScanner { return &timeScanner{p: p} }

// Scan implements sql.Scanner.
func (s *timeScanner) Scan(src any) error {
	var t time.Time
	switch v := src.(type) {
	case nil:
	case int64:
		t = time.UnixMicro(v).UTC()
	case time.Time:
		t = v.UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	if s.t != nil {
		*s.t = t
		return nil
	}
	*s.p = nil
	if src != nil {
		*s.p = &t
	}
	return nil
}

// normTime is t in UTC, truncated to the microsecond precision every dialect keeps.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
