package store

import (
	"context"
	"database/sql"
	"iter"
	"slices"
	"sync"
	"time"
)

// Group commit of decision records, new sessions and the Host's mail (the writes of every
// connect), and on SQLite of the Hosts' mail collections.
// Concurrent InsertDecision, InsertGrant, CreateSession (and on SQLite CollectMail) calls share one write
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

// groupCommit queues work (decision records, new sessions, mail collections) for the next
// batch.
type groupCommit[T any] struct {
	mu      sync.Mutex
	queue   []*T
	running bool
}

// pendingInsert is one record waiting for its batch; done receives its outcome once.
type pendingInsert struct {
	args []any
	// then are the arguments of a second row that commits with this one or not at all (the
	// session of an allowed connect's decision); nil for none.
	then []any
	// mail is a message, ready to post (readyMail), posted with the record (the Host's half of
	// a grant); nil for none. posted tells, once done has received nil, whether it was posted
	// (false: its recipient's mailbox was full, and the rest committed without it).
	mail   *Mail
	posted bool
	done   chan error
}

// submit queues p and returns when its transaction has ended and done has received its
// outcome: nil means committed. When ctx ends first it returns ctx's error, unless giveUp (when
// not nil) says that p's batch has begun: then it waits for the outcome. Without giveUp, p may
// still commit (a decision that was logged but never acted on, which fails closed).
func (g *groupCommit[T]) submit(ctx context.Context, commit func(context.Context, []*T), p *T, done <-chan error, giveUp func() bool) error {
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		go g.lead(context.WithoutCancel(ctx), commit)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if giveUp == nil || giveUp() {
			return ctx.Err()
		}
		return <-done
	}
}

// lead commits batches until the queue is empty.
func (g *groupCommit[T]) lead(ctx context.Context, commit func(context.Context, []*T)) {
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

// pendingWrite is one write waiting for a shared transaction: a decision record to insert
// (with its session and mail), a session alone, or, on SQLite, a mailbox to collect. Exactly
// one is set.
type pendingWrite struct {
	record  *pendingInsert
	session *pendingInsert
	collect *pendingCollect
}

// done is where w's outcome goes.
func (w *pendingWrite) done() chan error {
	switch {
	case w.record != nil:
		return w.record.done
	case w.session != nil:
		return w.session.done
	}
	return w.collect.done
}

// commitWrites commits a batch of writes in one transaction: the records first, then the
// sessions, then the collections, which may take the mail the records posted (it is handed
// over only once the transaction has committed). On SQLite, whose writers take turns, the
// long-polls' collections then cost no transaction of their own. A collection whose caller went
// away is left out. When the batch fails, each write is retried in a transaction of its own, so
// that one bad record (a duplicate id) fails alone.
func (db *DB) commitWrites(ctx context.Context, batch []*pendingWrite) {
	batch = slices.DeleteFunc(batch, func(w *pendingWrite) bool {
		return w.collect != nil && !w.collect.state.CompareAndSwap(collectQueued, collectTaken)
	})
	if len(batch) == 0 {
		return // every caller went away
	}
	db.metrics.observeBatch(len(batch))
	txFor := db.inTxFor
	if onlyCollects(batch) {
		txFor = db.inTxUnsynced
	}
	err := txFor(ctx, workConnects, func(tx *sql.Tx) error { return db.writeBatch(ctx, tx, batch) })
	if err == nil || len(batch) == 1 {
		for _, w := range batch {
			w.done() <- err
		}
		return
	}
	for _, w := range batch {
		w.done() <- db.inTxFor(ctx, workConnects, func(tx *sql.Tx) error { return db.writeBatch(ctx, tx, []*pendingWrite{w}) })
	}
}

// writeBatch carries out a batch of writes in tx, records and sessions a multi-row statement
// at a time.
func (db *DB) writeBatch(ctx context.Context, tx *sql.Tx, batch []*pendingWrite) error {
	var records, sessions []*pendingInsert
	var collects []*pendingCollect
	for _, w := range batch {
		switch {
		case w.record != nil:
			records = append(records, w.record)
		case w.session != nil:
			sessions = append(sessions, w.session)
		default:
			collects = append(collects, w.collect)
		}
	}
	if err := db.insertDecisions(ctx, tx, records); err != nil {
		return err
	}
	if err := db.insertSessions(ctx, tx, sessions); err != nil {
		return err
	}
	for _, p := range collects {
		if err := db.collect(ctx, preparedTx{db, tx}, p); err != nil {
			return err
		}
	}
	return nil
}

// insertDecisions inserts a batch of decision records, queued for shipping and logging, and their sessions
// with a statement or two each (a round trip each on PostgreSQL, whatever the batch's size), then
// posts the records' mail (a message is posted only while its recipient's mailbox has room): on
// PostgreSQL all of it with one statement, elsewhere a statement per message.
func (db *DB) insertDecisions(ctx context.Context, tx *sql.Tx, batch []*pendingInsert) error {
	for part := range rowChunks(batch) {
		if err := db.insertDecisionRows(ctx, tx, part); err != nil {
			return err
		}
	}
	if db.d.kind == kindPostgres {
		return db.postMailRows(ctx, tx, batch)
	}
	for _, p := range batch {
		if err := db.postBatchedMail(ctx, tx, p); err != nil {
			return err
		}
	}
	return nil
}

// insertDecisionRows inserts records, queued for shipping and logging, and their sessions.
func (db *DB) insertDecisionRows(ctx context.Context, tx *sql.Tx, part []*pendingInsert) error {
	records := make([]any, 0, len(part)*decisionArgCount)
	keys := make([]any, 0, 2*len(part))
	var sessions [][]any
	for _, p := range part {
		records = append(records, p.args...)
		keys = append(keys, p.args[:2]...)
		if p.then != nil {
			sessions = append(sessions, p.then)
		}
	}
	if err := db.insertQueued(ctx, tx, len(part), records, keys); err != nil {
		return err
	}
	for rows := range rowChunks(sessions) {
		if err := db.insertSessionRows(ctx, tx, slices.Concat(rows...)); err != nil {
			return err
		}
	}
	return nil
}

// insertQueued inserts n records (insertDecisionsSQL's arguments) and enters them in
// queueTables (keys: each record's id and time).
func (db *DB) insertQueued(ctx context.Context, tx *sql.Tx, n int, records, keys []any) error {
	if q := db.d.withQueues(n); q != "" {
		return db.insert(ctx, tx, q, records...)
	}
	if err := db.insert(ctx, tx, insertDecisionsSQL(n), records...); err != nil {
		return err
	}
	for _, table := range queueTables {
		if err := db.insert(ctx, tx, insertQueueSQL(table, n), keys...); err != nil {
			return err
		}
	}
	return nil
}

// maxRowsPerStatement bounds the rows one multi-row INSERT takes.
const maxRowsPerStatement = 64

// rowChunks splits rows into parts of power-of-two sizes up to maxRowsPerStatement, largest
// first: one statement per part, from a handful of statement texts, which the drivers keep
// prepared (pgx's statement cache, stmtCache).
func rowChunks[T any](rows []T) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(rows) > 0 {
			n := maxRowsPerStatement
			for n > len(rows) {
				n /= 2
			}
			if !yield(rows[:n]) {
				return
			}
			rows = rows[n:]
		}
	}
}

// postBatchedMail posts a record's mail, if it has some, and notes whether it was posted.
func (db *DB) postBatchedMail(ctx context.Context, tx *sql.Tx, p *pendingInsert) error {
	p.posted = false
	if p.mail == nil {
		return nil
	}
	res, err := db.txExec(ctx, tx, db.postMailSQL(), db.mailArgs(*p.mail)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	p.posted = n > 0
	return err
}

// postMailRows posts the batch's mail with one statement (PostgreSQL: postMailRowsSQL) and
// notes which records' mail was posted.
func (db *DB) postMailRows(ctx context.Context, tx *sql.Tx, batch []*pendingInsert) error {
	var ids, recipients []string
	var bodies [][]byte
	var queued, due, expires []time.Time
	byID := make(map[string]*pendingInsert, len(batch))
	for _, p := range batch {
		p.posted = false
		if m := p.mail; m != nil {
			ids, recipients, bodies = append(ids, m.ID), append(recipients, m.Recipient), append(bodies, m.Body)
			queued, due, expires = append(queued, normTime(m.QueuedAt)), append(due, normTime(m.DeliverAt)), append(expires, normTime(m.ExpiresAt))
			byID[m.ID] = p
		}
	}
	if len(ids) == 0 {
		return nil
	}
	posted, err := queryAll(ctx, tx, func(r rowScanner) (string, error) {
		var id string
		var notified any
		return id, r.Scan(&id, &notified)
	}, db.postMailRowsSQL(), ids, recipients, bodies, queued, due, expires, MaxMail)
	if err != nil {
		return err
	}
	for _, id := range posted {
		if p := byID[id]; p != nil {
			p.posted = true
		}
	}
	return nil
}

// insertSessions inserts a batch of new sessions.
func (db *DB) insertSessions(ctx context.Context, tx *sql.Tx, batch []*pendingInsert) error {
	for part := range rowChunks(batch) {
		var rows []any
		for _, p := range part {
			rows = append(rows, p.args...)
		}
		if err := db.insertSessionRows(ctx, tx, rows); err != nil {
			return err
		}
	}
	return nil
}

// insertSessionRows inserts sessions whose sessionArgs follow one another in args, with one
// statement.
func (db *DB) insertSessionRows(ctx context.Context, tx *sql.Tx, args []any) error {
	n := len(args) / sessionArgCount
	return db.insert(ctx, tx, "INSERT INTO sessions ("+sessionColumns+") VALUES "+valueRows(n, sessionArgCount, ""), args...)
}

// onlyCollects says whether batch holds collections alone.
func onlyCollects(batch []*pendingWrite) bool {
	for _, w := range batch {
		if w.collect == nil {
			return false
		}
	}
	return true
}
