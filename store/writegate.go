package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// writeGate queues this process's writers to a SQLite database, first come first served, and
// hands each in turn the one connection they all write through.
//
// SQLite has one writer at a time, and a writer that finds the database locked polls for it
// (the busy timeout), with pauses growing to 100 ms: beside a busy group commit, whose batches
// follow one another at once, a lone writer (a relay's report, a lease renewal) would keep
// finding it locked and starve. Queued here, each writer waits only for those before it. On
// PostgreSQL writers run concurrently and the gate is not used. Writers in other processes
// still meet the busy timeout.
//
// The connection: a SQLite connection drops its whole page cache when it begins a transaction
// and finds that another connection wrote since its last one. Through a pool's connections in
// turn, every write transaction began with a cold cache and read each index page it touched
// again from the file; through one connection, the pages the last commit left stay cached.
//
// The channel holds one token, the turn; taking it enters, putting it back leaves.
type writeGate chan *writerConn

// writerConn is the connection the writers share; conn is nil until the first writer pins one
// from the pool, and again after it broke.
type writerConn struct {
	conn *sql.Conn
}

func newWriteGate() writeGate {
	g := make(writeGate, 1)
	g <- &writerConn{}
	return g
}

// enterWrite waits for the writers before this one, or for ctx to end; the returned func lets the
// next in. The wait and the time until the func is called are observed as w's (metrics.go). On
// SQLite it also returns the writers' connection, pinned from the pool at first use; nil on
// PostgreSQL.
func (db *DB) enterWrite(ctx context.Context, w work) (func(), *writerConn, error) {
	start := time.Now()
	if db.gate == nil {
		return func() { db.metrics.observeHeld(w, time.Since(start)) }, nil, nil
	}
	select {
	case wc := <-db.gate:
		entered := time.Now()
		db.metrics.observeWait(w, entered.Sub(start))
		leave := func() {
			db.metrics.observeHeld(w, time.Since(entered))
			db.gate <- wc
		}
		if err := wc.pin(ctx, db.sql); err != nil {
			leave()
			return nil, nil, err
		}
		return leave, wc, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// pin makes sure wc holds a live connection: it takes one from pool at first use, and again
// when the one it held was closed (a transaction whose connection broke closes it).
func (wc *writerConn) pin(ctx context.Context, pool *sql.DB) error {
	if wc.conn != nil && wc.conn.Raw(func(any) error { return nil }) == nil {
		return nil
	}
	if wc.conn != nil {
		_ = wc.conn.Close() // already closed: Close only says so again
		wc.conn = nil
	}
	c, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: writer connection: %w", err)
	}
	wc.conn = c
	return nil
}

// closeWriter waits for the turn, closes the writers' connection and leaves the turn to
// writers that come later (they then fail: the pool is closed with the DB).
func (db *DB) closeWriter() {
	if db.gate == nil {
		return
	}
	wc := <-db.gate
	if wc.conn != nil {
		_ = wc.conn.Close() // closing the DB: nothing is left to report it to
		wc.conn = nil
	}
	db.gate <- wc
}
