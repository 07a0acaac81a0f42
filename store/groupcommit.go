package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Group commit of decision records and new sessions (the two writes of every connect).
// Concurrent InsertDecision (or CreateSession) calls share one write
// transaction: the first caller that finds no commit running starts a committer goroutine that
// commits everything queued, batch after batch, until the queue is empty; every caller returns
// only after the transaction holding its record committed (or failed). One transaction per batch
// instead of per record takes the write lock, and on SQLite the WAL commit, once for many
// connects.
const (
	// maxDecisionBatch bounds the records one transaction commits.
	maxDecisionBatch = 128
	// batchTimeout bounds one batch's transaction, which runs for many callers and so on none
	// of their contexts.
	batchTimeout = 30 * time.Second
)

// groupCommit queues decision records for the next batch.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*pendingInsert
	running bool
}

// pendingInsert is one record waiting for its batch; done receives its outcome once.
type pendingInsert struct {
	args []any
	// then are the arguments of a second row that commits with this one or not at all (the
	// session of an allowed connect's decision); nil for none.
	then []any
	done chan error
}

// submit queues args and returns when the record's transaction has ended: nil means committed.
// When ctx ends first it returns ctx's error; the record may still commit (a decision that was
// logged but never acted on, which fails closed).
func (g *groupCommit) submit(ctx context.Context, commit func(context.Context, []*pendingInsert), args, then []any) error {
	p := &pendingInsert{args: args, then: then, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		go g.lead(context.WithoutCancel(ctx), commit)
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lead commits batches until the queue is empty.
func (g *groupCommit) lead(ctx context.Context, commit func(context.Context, []*pendingInsert)) {
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxDecisionBatch)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		bctx, cancel := context.WithTimeout(ctx, batchTimeout)
		commit(bctx, batch)
		cancel()
	}
}

// batchCommitter returns the commit function of a groupCommit whose records insert runs: it
// inserts a batch in one transaction and tells each record its outcome. When the batch fails,
// each record is retried in its own transaction, so that one bad record (a duplicate id) fails
// alone.
func (db *DB) batchCommitter(insert func(context.Context, *sql.Tx, *pendingInsert) error) func(context.Context, []*pendingInsert) {
	return func(ctx context.Context, batch []*pendingInsert) {
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			for _, p := range batch {
				if err := insert(ctx, tx, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || len(batch) == 1 {
			for _, p := range batch {
				p.done <- err
			}
			return
		}
		for _, p := range batch {
			p.done <- db.inTx(ctx, func(tx *sql.Tx) error { return insert(ctx, tx, p) })
		}
	}
}

// insertDecision inserts a decision record and, when it has one, its session.
func (db *DB) insertDecision(ctx context.Context, tx *sql.Tx, p *pendingInsert) error {
	if q := db.d.withOutbox(); q != "" {
		if err := db.insert(ctx, tx, q, p.args...); err != nil {
			return err
		}
	} else if err := db.insert(ctx, tx, insertDecisionSQL, p.args...); err != nil {
		return err
	} else if err := db.insert(ctx, tx, insertOutboxSQL, p.args[:2]...); err != nil {
		return err
	}
	if p.then != nil {
		return db.insertSessionRow(ctx, tx, p.then)
	}
	return nil
}

func (db *DB) insertSession(ctx context.Context, tx *sql.Tx, p *pendingInsert) error {
	return db.insertSessionRow(ctx, tx, p.args)
}

func (db *DB) insertSessionRow(ctx context.Context, tx *sql.Tx, args []any) error {
	return db.insert(ctx, tx, "INSERT INTO sessions ("+sessionColumns+
		") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)", args...)
}
