package store

import (
	"context"
	"time"
)

// writeGate queues this process's writers to a SQLite database, first come first served.
// SQLite has one writer at a time, and a writer that finds the database locked polls for it
// (the busy timeout), with pauses growing to 100 ms: beside a busy group commit, whose batches
// follow one another at once, a lone writer (a relay's report, a lease renewal) would keep
// finding it locked and starve. Queued here, each writer waits only for those before it. On
// PostgreSQL writers run concurrently and the gate is not used. Writers in other processes
// still meet the busy timeout.
type writeGate chan struct{}

func newWriteGate() writeGate { return make(writeGate, 1) }

// enterWrite waits for the writers before this one, or for ctx to end; the returned func lets the
// next in. The wait and the time until the func is called are observed as w's (metrics.go).
func (db *DB) enterWrite(ctx context.Context, w work) (func(), error) {
	start := time.Now()
	if db.gate == nil {
		return func() { db.metrics.observeHeld(w, time.Since(start)) }, nil
	}
	select {
	case db.gate <- struct{}{}:
		entered := time.Now()
		db.metrics.observeWait(w, entered.Sub(start))
		return func() {
			db.metrics.observeHeld(w, time.Since(entered))
			<-db.gate
		}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
