package store

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// SQLite connection settings added to every SQLite DSN.
const (
	// sqliteBusyTimeoutMS is how long (milliseconds) a SQLite connection waits for the write lock.
	sqliteBusyTimeoutMS = 10_000
	// sqliteFileMode is the mode of a database file the store creates.
	sqliteFileMode = 0o600
	// sqliteDirMode is the mode of a database directory the store creates.
	sqliteDirMode = 0o700
)

// dsnConfig is a parsed DSN.
type dsnConfig struct {
	kind       kind
	driverDSN  string // what the database/sql driver gets
	redacted   string // safe to log: no password
	sqlitePath string // the database file (SQLite only)
}

// errBadDSN reports a DSN that names no supported database.
var errBadDSN = errors.New("unsupported DSN (want sqlite:PATH, PATH.db, postgres://…, postgresql://… or cockroach://…)")

// parseDSN recognizes the database family and builds the driver's DSN.
func parseDSN(dsn string) (dsnConfig, error) {
	scheme, rest, hasScheme := strings.Cut(dsn, ":")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return pgDSN(kindPostgres, dsn)
	case "cockroach", "cockroachdb":
		return pgDSN(kindCockroach, "postgresql:"+rest)
	case "sqlite", "sqlite3":
		return sqliteDSN(strings.TrimPrefix(rest, "//"))
	}
	path, _, _ := strings.Cut(dsn, "?")
	switch strings.ToLower(filepath.Ext(path)) {
	case ".db", ".sqlite", ".sqlite3":
		if !hasScheme || filepath.IsAbs(dsn) || len(scheme) == 1 {
			return sqliteDSN(dsn)
		}
	}
	return dsnConfig{}, fmt.Errorf("%w: %q", errBadDSN, redactDSN(dsn))
}

// pgDSN checks a PostgreSQL URL DSN.
func pgDSN(k kind, dsn string) (dsnConfig, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsnConfig{}, fmt.Errorf("%w: %s", errBadDSN, redactDSN(dsn))
	}
	return dsnConfig{kind: k, driverDSN: dsn, redacted: u.Redacted()}, nil
}

// sqliteDSN builds the modernc.org/sqlite DSN for a file path with an optional ?query.
func sqliteDSN(pathAndQuery string) (dsnConfig, error) {
	path, rawQuery, _ := strings.Cut(pathAndQuery, "?")
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(rawQuery, "mode=memory") {
		return dsnConfig{}, fmt.Errorf("%w: SQLite needs a file path (in-memory and file: URIs are not supported): %q", errBadDSN, pathAndQuery)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return dsnConfig{}, fmt.Errorf("%w: SQLite query %q: %w", errBadDSN, rawQuery, err)
	}
	q.Set("_txlock", "immediate")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: each commit syncs the WAL, so that a committed decision survives a power loss (NORMAL
	// may lose the last ones); group commit (groupcommit.go) shares one sync among many connects.
	q.Add("_pragma", "synchronous(FULL)")
	// 0: no checkpoint inside a commit; the store checkpoints in the background (checkpoint.go).
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "foreign_keys(1)")
	// MEMORY: a statement's journal (the pages a multi-row insert changed, kept to undo the
	// statement alone) stays in memory; on a file it spilled to a temporary file past 64 KiB, a
	// write system call per page of every decision batch. It holds nothing a crash could need.
	q.Add("_pragma", "temp_store(MEMORY)")
	return dsnConfig{
		kind:       kindSQLite,
		driverDSN:  path + "?" + q.Encode(),
		redacted:   "sqlite:" + path,
		sqlitePath: path,
	}, nil
}

// prepare creates a missing SQLite file and its directory with private modes.
func (c dsnConfig) prepare() error {
	if c.kind != kindSQLite {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.sqlitePath), sqliteDirMode); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(c.sqlitePath, os.O_RDWR|os.O_CREATE, sqliteFileMode)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// redactDSN hides a password in a DSN that fails to parse as a URL too.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	if at := strings.LastIndex(dsn, "@"); at >= 0 {
		return "…" + dsn[at:]
	}
	return dsn
}
