package store

import (
	"context"
	"database/sql"
	"sync"
)

// hotReads runs the store's most frequent statements (those of every Host long-poll: its mail
// and its record) prepared once, on SQLite, where parsing a statement costs as much as running
// it. On PostgreSQL and CockroachDB it passes them through: pgx caches statements itself, and a
// prepare of our own would not survive a transaction-pooling proxy.
type hotReads struct {
	db      *sql.DB
	prepare bool
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
}

func newHotReads(db *sql.DB, prepare bool) *hotReads {
	return &hotReads{db: db, prepare: prepare, stmts: map[string]*sql.Stmt{}}
}

// stmt returns query prepared, preparing it on first use; nil when it cannot (the caller
// then runs the query unprepared, and meets the error there).
func (h *hotReads) stmt(ctx context.Context, query string) *sql.Stmt {
	if !h.prepare {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.stmts[query]; ok {
		return st
	}
	st, err := h.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	h.stmts[query] = st
	return st
}

// QueryContext runs query, prepared where the store prepares hot statements.
func (h *hotReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := h.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return h.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query for one row, prepared where the store prepares hot statements.
func (h *hotReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := h.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return h.db.QueryRowContext(ctx, query, args...)
}

// close releases the prepared statements.
func (h *hotReads) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for q, st := range h.stmts {
		_ = st.Close() // the database closes next; a statement it cannot close goes with it
		delete(h.stmts, q)
	}
}
