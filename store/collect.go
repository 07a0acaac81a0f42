package store

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Group collection of mail on SQLite. Every long-poll that returns takes its messages with a
// DELETE, a write transaction; on SQLite, whose writers take turns and sync the WAL at every
// commit (synchronous=FULL), one transaction per long-poll would cost a sync per connect.
// Concurrent CollectMail calls there share one transaction with each other and with the
// connects' decision records (commitWrites in groupcommit.go). PostgreSQL runs concurrent
// collections together too, in one statement and apart from the connects' writes
// (collectgroup.go): a DELETE that finds nothing writes nothing there, so an empty mailbox
// costs no more than a look at it would.

// States of a pendingCollect.
const (
	collectQueued    int32 = iota
	collectTaken           // its batch has begun: the caller waits for the outcome
	collectAbandoned       // its caller went away first: the batch leaves it out
)

// pendingCollect is one CollectMail call waiting for its batch.
type pendingCollect struct {
	ctx       context.Context // the caller's
	recipient string
	now       time.Time // the collection's time, in UTC to the microsecond
	at        any       // now as the dialect writes it
	state     atomic.Int32
	// mail, next and drained are the outcome (Collected), once done has received nil.
	mail    []Mail
	next    time.Time
	drained bool
	done    chan error
}

// MaxCollect bounds the messages one collection takes, the soonest to expire first (of
// messages of one lifetime, as a lock's orders to end sessions, the oldest): with each message
// bounded too (MaxMailBody), what a long-poll hands over in one answer fits in what its client
// reads (api.MaxResponseBytes). A collection that takes MaxCollect may leave due messages for
// the next one, which finds them at once.
const MaxCollect = 64

// Collected is the outcome of a collection: the messages taken, oldest first, and what the
// collection learnt of the rest of the mailbox.
type Collected struct {
	// Mail is the messages taken: the recipient's due and unexpired ones, at most MaxCollect
	// of them, the soonest to expire.
	Mail []Mail
	// Next is, when none was taken, when the earliest message not yet due will be; else zero.
	// On PostgreSQL it may be past already, when a concurrent collection took the due messages
	// this one found and left others due: the caller collects again at once.
	Next time.Time
	// Drained says that no unexpired message was left in the mailbox once the due ones were
	// taken, as the collection read it. Only PostgreSQL's collection, which reads the rest of
	// the mailbox in the same statement, reports it; elsewhere it is false (not known).
	Drained bool
}

// collectSQL takes a recipient's due messages, $3 of them at most, the soonest to expire
// first (of one kind of message, the oldest): in the order of mail_recipient_expiry, so that
// it reads no more of a long mailbox than it takes. nextMailSQL finds when the next one is
// due; firstMailSQL when the first unexpired one is (or was) due: $2 when one is, without
// reading the mailbox's other messages (whose times follow their bodies in the row).
const (
	firstMailSQL = "SELECT CASE WHEN EXISTS (SELECT 1 FROM mail WHERE recipient = $1 AND expires_at > $2 AND deliver_at <= $2) THEN $2" +
		" ELSE (SELECT min(deliver_at) FROM mail WHERE recipient = $1 AND expires_at > $2) END"
	collectPickSQL = "SELECT id FROM mail WHERE recipient = $1 AND deliver_at <= $2 AND expires_at > $2 ORDER BY expires_at LIMIT $3"
	collectSQL     = "DELETE FROM mail WHERE id IN (" + collectPickSQL + ") RETURNING " + mailColumns
	// pgCollectSQL is collectSQL on PostgreSQL: it skips the messages another collection is
	// taking (FOR UPDATE SKIP LOCKED) rather than wait for them, as collections whose rows
	// locked each other's in turn deadlocked; the look at the rest of the mailbox finds the
	// skipped ones, and the caller collects again at once if that one fails.
	pgCollectSQL = "DELETE FROM mail WHERE id IN (" + collectPickSQL + " FOR UPDATE SKIP LOCKED) RETURNING " + mailColumns
	nextMailSQL  = "SELECT min(deliver_at) FROM mail WHERE recipient = $1 AND deliver_at > $2 AND expires_at > $2"
)

// CollectMail takes the recipient's messages that are due and unexpired at now, at most
// MaxCollect of them (the soonest to expire), oldest first: each is returned to exactly one
// caller. When none is due, next is when the earliest message not yet due will be, or zero; when some are, next is zero (a caller with messages in hand
// returns them before it waits again). A caller whose ctx ends before its messages are taken gets ctx's error and
// takes none; once they are being taken, it waits for them, so that none is lost.
//
// An empty mailbox, what nearly every long-poll finds, costs one statement and no write.
func (db *DB) CollectMail(ctx context.Context, recipient string, now time.Time) (mail []Mail, next time.Time, err error) {
	c, err := db.Collect(ctx, recipient, now, false)
	return c.Mail, c.Next, err
}

// CollectPostedMail is CollectMail for a caller woken because mail was posted to the
// recipient: it takes the due messages at once, without the read that spares an empty mailbox
// a write (a long-poll woken by a post nearly always finds the message), and gives the same
// outcome.
func (db *DB) CollectPostedMail(ctx context.Context, recipient string, now time.Time) (mail []Mail, next time.Time, err error) {
	c, err := db.Collect(ctx, recipient, now, true)
	return c.Mail, c.Next, err
}

// Collect is CollectMail, or CollectPostedMail when posted, with the whole outcome.
func (db *DB) Collect(ctx context.Context, recipient string, now time.Time, posted bool) (Collected, error) {
	if posted || db.d.kind == kindPostgres {
		return db.takeMail(ctx, recipient, now)
	}
	var first *time.Time
	if err := (prepared{db}).QueryRowContext(ctx, firstMailSQL, recipient, db.d.timeArg(now)).Scan(scanNullTime(&first)); err != nil {
		return Collected{}, fmt.Errorf("store: look for mail of %s: %w", recipient, err)
	}
	switch {
	case first == nil:
		return Collected{}, nil
	case first.After(now):
		return Collected{Next: *first}, nil
	}
	return db.takeMail(ctx, recipient, now)
}

// takeMail takes the recipient's messages due at now, in a batch of collections on SQLite
// (with the connects' writes) and PostgreSQL (collectgroup.go), and finds when the next one is
// due when none is.
func (db *DB) takeMail(ctx context.Context, recipient string, now time.Time) (Collected, error) {
	p := &pendingCollect{ctx: ctx, recipient: recipient, now: normTime(now), at: db.d.timeArg(now), done: make(chan error, 1)}
	giveUp := func() bool { return p.state.CompareAndSwap(collectQueued, collectAbandoned) }
	var err error
	if db.d.kind == kindSQLite {
		err = db.writes.submit(ctx, db.commitWrites, &pendingWrite{collect: p}, p.done, giveUp)
	} else if db.d.kind == kindPostgres {
		err = db.collects.submit(ctx, db.collectBatch, p, p.done, giveUp)
	} else {
		err = db.collect(ctx, prepared{db}, p)
	}
	if err != nil {
		return Collected{}, fmt.Errorf("store: collect mail of %s: %w", recipient, err)
	}
	return Collected{Mail: p.mail, Next: p.next, Drained: p.drained}, nil
}

// collect takes p's messages through q and finds when its next one is due.
func (db *DB) collect(ctx context.Context, q querier, p *pendingCollect) error {
	mail, err := queryAll(ctx, q, scanMail, collectSQL, p.recipient, p.at, MaxCollect)
	if err != nil {
		return err
	}
	var due *time.Time
	if len(mail) == 0 {
		if err := q.QueryRowContext(ctx, nextMailSQL, p.recipient, p.at).Scan(scanNullTime(&due)); err != nil {
			return fmt.Errorf("next mail: %w", err)
		}
	}
	p.settle(mail, due)
	return nil
}

func (p *pendingCollect) callerContext() context.Context { return p.ctx }
func (p *pendingCollect) outcome() chan<- error          { return p.done }

// settle sets p's outcome: the mail taken, oldest first, and when none was, due (nil: no
// message waits).
func (p *pendingCollect) settle(mail []Mail, due *time.Time) {
	slices.SortFunc(mail, func(a, b Mail) int { return a.QueuedAt.Compare(b.QueuedAt) })
	p.mail, p.next = mail, time.Time{}
	if len(mail) == 0 && due != nil {
		p.next = *due
	}
}
