package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Sentinel errors, wrapped by the methods; check them with errors.Is.
var (
	// ErrNotFound reports that the addressed record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that a record with the same id or unique name already exists.
	ErrConflict = errors.New("already exists")
	// ErrTokenUsed reports that an enrollment token has already been consumed.
	ErrTokenUsed = errors.New("enrollment token already used")
	// ErrTokenExpired reports that an enrollment token is past its expiry.
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrInvalid reports an argument the store refuses (missing id, malformed JSON or cursor).
	ErrInvalid = errors.New("invalid argument")
)

// Connection pool limits.
const (
	// maxOpenConns bounds the connections one DB holds open.
	maxOpenConns = 16
	// maxIdleConns bounds the idle connections one DB keeps: as many as it may open, so that a
	// burst does not close connections only to open them again (on SQLite each new connection
	// runs its pragmas and prepares the hot statements again: stmtCache).
	maxIdleConns = maxOpenConns
	// connMaxIdleTime closes connections idle for longer.
	connMaxIdleTime = 5 * time.Minute
)

// DB is the store: every method is safe for concurrent use.
type DB struct {
	sql *sql.DB
	d   dialect
	log *slog.Logger
	// writes batches concurrent InsertDecision, InsertGrant and CreateSession calls, and on
	// SQLite the long-polls' mail collections (collect.go), into shared transactions.
	writes groupCommit[pendingWrite]
	// collects batches concurrent mail collections on PostgreSQL (collectgroup.go).
	collects groupCommit[pendingCollect]
	// lookups batches concurrent HostAndLocks calls on PostgreSQL (connectlookup.go).
	lookups groupCommit[pendingLookup]
	// gate queues the writers to a SQLite database (writegate.go); nil on PostgreSQL.
	gate writeGate
	// stmts keeps hot statements prepared (SQLite only).
	stmts stmtCache
	// listenDSN is the pgx connection string ListenMail dials (PostgreSQL only).
	listenDSN string
	// origin tags the notifications of the mail posted through this DB (PostgreSQL only), so
	// that its own listener can tell them from other replicas' (listen.go).
	origin string
	// metrics times the writes (metrics.go); nil observes nothing.
	metrics *writeMetrics
	// ckpt copies a SQLite WAL into the database file in the background (checkpoint.go); nil
	// on PostgreSQL.
	ckpt *checkpointer
}

// Open connects to the database named by dsn, applies the pending migrations and returns the
// store. A nil logger discards logs.
//
// DSN forms:
//
//	sqlite:/var/lib/portcullis/cm.db       SQLite file (also sqlite:relative.db, sqlite:///abs.db)
//	/var/lib/portcullis/cm.db              bare path ending in .db, .sqlite or .sqlite3
//	postgres://user:pw@host:5432/db?…      PostgreSQL (also postgresql://); a server that
//	                                       reports itself as CockroachDB is treated as one
//	cockroach://user@host:26257/db?…       CockroachDB (also cockroachdb://), passed to pgx as
//	                                       postgresql://…
//
// A SQLite DSN may carry its own ?query (modernc.org/sqlite parameters); the store adds WAL,
// synchronous=FULL, busy_timeout, foreign_keys and _txlock=immediate, turns SQLite's automatic
// checkpoint off (it checkpoints in the background until Close: checkpoint.go), and creates
// the file (mode 0600) and its directory (0700) when missing.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	db, redacted, err := newDB(dsn, logger)
	if err != nil {
		return nil, err
	}
	if err := db.start(ctx); err != nil {
		_ = db.sql.Close() // the open failed; its error is the one to report
		return nil, fmt.Errorf("store: open %s: %w", redacted, err)
	}
	if db.d.kind == kindSQLite {
		db.startCheckpoints(ctx)
	}
	db.log.InfoContext(ctx, "store opened", "dialect", db.d.kind.String(), "dsn", redacted)
	return db, nil
}

// newDB prepares the database of dsn (a missing SQLite file is created) and its connection
// pool, without connecting or migrating; it also returns the DSN with its secrets redacted.
func newDB(dsn string, logger *slog.Logger) (*DB, string, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("store: open: %w", err)
	}
	if err := cfg.prepare(); err != nil {
		return nil, "", fmt.Errorf("store: open %s: %w", cfg.redacted, err)
	}
	d := dialect{kind: cfg.kind}
	sqlDB, err := sql.Open(d.driverName(), cfg.driverDSN)
	if err != nil {
		return nil, "", fmt.Errorf("store: open %s: %w", cfg.redacted, err)
	}
	sqlDB.SetMaxOpenConns(maxOpenConns)
	sqlDB.SetMaxIdleConns(maxIdleConns)
	sqlDB.SetConnMaxIdleTime(connMaxIdleTime)
	db := &DB{sql: sqlDB, d: d, log: logger.With("component", "store"), metrics: newWriteMetrics()}
	if d.kind == kindPostgres {
		db.listenDSN, db.origin = cfg.driverDSN, rand.Text()[:originLen]
	}
	if d.kind == kindSQLite {
		db.gate = newWriteGate()
	}
	return db, cfg.redacted, nil
}

// start checks the connection, recognizes CockroachDB behind a postgres DSN and migrates.
func (db *DB) start(ctx context.Context) error {
	if err := db.connect(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if db.d.kind == kindPostgres {
		var version string
		if err := db.sql.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
			return fmt.Errorf("server version: %w", err)
		}
		if strings.Contains(version, "CockroachDB") {
			db.d.kind = kindCockroach
		}
	}
	return db.migrate(ctx)
}

// connect makes the first connection. A SQLite file that another process is turning into
// WAL mode at the same moment answers SQLITE_BUSY without waiting (the busy timeout does not
// cover that switch), so that is retried like a busy transaction.
func (db *DB) connect(ctx context.Context) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := db.sql.PingContext(ctx)
		if err != nil && !db.d.retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(txBackOff()), backoff.WithMaxTries(maxTxAttempts), backoff.WithMaxElapsedTime(0))
	if p := (*backoff.PermanentError)(nil); errors.As(err, &p) {
		return p.Unwrap()
	}
	return err
}

// Close closes the database; the DB must not be used afterwards.
func (db *DB) Close() error {
	db.stopCheckpoints()
	db.closeWriter()
	db.closeStmts()
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// inTx runs fn in a write transaction (see dialect.inTx).
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.inTxFor(ctx, workOther, fn)
}

// inTxFor is inTx for a write whose metrics are w's.
func (db *DB) inTxFor(ctx context.Context, w work, fn func(*sql.Tx) error) error {
	leave, wc, err := db.enterWrite(ctx, w)
	if err != nil {
		return err
	}
	defer leave()
	return db.d.inTx(ctx, db.writeOn(wc), db.log, fn)
}

// write runs one write statement outside an explicit transaction, in its turn among the
// writers (writegate.go); fn runs it on q, on SQLite the writers' connection.
func (db *DB) write(ctx context.Context, fn func(q execQuerier) error) error {
	leave, wc, err := db.enterWrite(ctx, workOther)
	if err != nil {
		return err
	}
	defer leave()
	return fn(db.writeOn(wc))
}

// writeOn is where a write in its turn runs: the writers' connection wc on SQLite, the pool
// where there is none.
func (db *DB) writeOn(wc *writerConn) writeTarget {
	if wc != nil {
		return wc.conn
	}
	return db.sql
}

// execQuerier is what *sql.DB and *sql.Conn have in common for statements.
type execQuerier interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeTarget is what *sql.DB and *sql.Conn have in common for writes.
type writeTarget interface {
	beginner
	execQuerier
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// querier is what *sql.DB and *sql.Tx have in common for reads.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryOne runs a query for one row and scans it; no row is ErrNotFound.
func queryOne[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// queryAll runs a query and scans every row.
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// execOne runs a statement that must touch exactly one row; none is ErrNotFound.
func execOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	n, err := execCount(ctx, tx, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// execCount runs a statement and returns the number of rows it touched.
func execCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// insert runs an INSERT; a unique violation becomes ErrConflict.
func (db *DB) insert(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	_, err := db.txExec(ctx, tx, query, args...)
	if err != nil && db.d.isConflict(err) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// requireID returns ErrInvalid naming what when id is empty.
func requireID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%w: %s id is empty", ErrInvalid, what)
	}
	return nil
}
