package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the store's hot statements prepared on SQLite. Its driver
// (modernc.org/sqlite) parses every statement it runs; a *sql.Stmt is prepared once on each
// connection it runs on, so that every connect's statements are parsed once per connection,
// not once per connect. PostgreSQL's driver caches prepared statements itself (pgx's
// statement cache), so there the cache is not used.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns the statement prepared for query, preparing it on first use; nil (run the
// query unprepared) where the cache is not used or the statement does not prepare.
func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	if db.d.kind != kindSQLite {
		return nil
	}
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	s, err := db.sql.PrepareContext(ctx, query)
	if err != nil {
		return nil // running it unprepared reports the error
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = s
	return s
}

// closeStmts closes the cached statements.
func (db *DB) closeStmts() {
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		_ = s.Close() // the database closes next; a statement's error there changes nothing
		delete(c.stmts, q)
	}
}

// txExec runs query in tx, prepared where the cache is used.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s := db.stmt(ctx, query); s != nil {
		return tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// prepared is a querier that runs queries outside a transaction, prepared where the cache is
// used.
type prepared struct{ db *DB }

// QueryContext runs a query that returns rows.
func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.db.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.sql.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query that returns at most one row.
func (p prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.db.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.sql.QueryRowContext(ctx, query, args...)
}

// preparedTx is a querier that runs queries in a transaction, prepared where the cache is used.
type preparedTx struct {
	db *DB
	tx *sql.Tx
}

// QueryContext runs a query that returns rows.
func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.db.stmt(ctx, query); s != nil {
		return p.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query that returns at most one row.
func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.db.stmt(ctx, query); s != nil {
		return p.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
