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
// connects' decision records (commitWrites in groupcommit.go). PostgreSQL runs them
// concurrently, each on its own.

// States of a pendingCollect.
const (
	collectQueued    int32 = iota
	collectTaken           // its batch has begun: the caller waits for the outcome
	collectAbandoned       // its caller went away first: the batch leaves it out
)

// pendingCollect is one CollectMail call waiting for its batch.
type pendingCollect struct {
	recipient string
	at        any
	state     atomic.Int32
	// mail and next are the outcome, once done has received nil.
	mail []Mail
	next time.Time
	done chan error
}

// collectSQL takes a recipient's due messages; nextMailSQL finds when the next one is due;
// firstMailSQL when the first unexpired one is (or was) due.
const (
	firstMailSQL = "SELECT min(deliver_at) FROM mail WHERE recipient = $1 AND expires_at > $2"
	collectSQL   = "DELETE FROM mail WHERE recipient = $1 AND deliver_at <= $2 AND expires_at > $2 RETURNING " + mailColumns
	nextMailSQL  = "SELECT min(deliver_at) FROM mail WHERE recipient = $1 AND deliver_at > $2 AND expires_at > $2"
)

// CollectMail takes the recipient's messages that are due and unexpired at now, oldest first:
// each is returned to exactly one caller. When none is due, next is when the earliest message
// not yet due will be, or zero; when some are, next is zero (a caller with messages in hand
// returns them before it waits again). A caller whose ctx ends before its messages are taken gets ctx's error and
// takes none; once they are being taken, it waits for them, so that none is lost.
//
// An empty mailbox, what nearly every long-poll finds, costs one read and no write.
func (db *DB) CollectMail(ctx context.Context, recipient string, now time.Time) (mail []Mail, next time.Time, err error) {
	var first *time.Time
	if err := (prepared{db}).QueryRowContext(ctx, firstMailSQL, recipient, db.d.timeArg(now)).Scan(scanNullTime(&first)); err != nil {
		return nil, time.Time{}, fmt.Errorf("store: look for mail of %s: %w", recipient, err)
	}
	switch {
	case first == nil:
		return nil, time.Time{}, nil
	case first.After(now):
		return nil, *first, nil
	}
	return db.takeMail(ctx, recipient, now)
}

// CollectPostedMail is CollectMail for a caller woken because mail was posted to the
// recipient: it takes the due messages at once, without the read that spares an empty mailbox
// a write (a long-poll woken by a post nearly always finds the message), and gives the same
// outcome.
func (db *DB) CollectPostedMail(ctx context.Context, recipient string, now time.Time) (mail []Mail, next time.Time, err error) {
	return db.takeMail(ctx, recipient, now)
}

// takeMail takes the recipient's messages due at now, in a batch of collections on SQLite,
// and finds when the next one is due when none is.
func (db *DB) takeMail(ctx context.Context, recipient string, now time.Time) (mail []Mail, next time.Time, err error) {
	p := &pendingCollect{recipient: recipient, at: db.d.timeArg(now), done: make(chan error, 1)}
	if db.d.kind == kindSQLite {
		giveUp := func() bool { return p.state.CompareAndSwap(collectQueued, collectAbandoned) }
		err = db.writes.submit(ctx, db.commitWrites, &pendingWrite{collect: p}, p.done, giveUp)
	} else {
		err = db.collect(ctx, prepared{db}, p)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: collect mail of %s: %w", recipient, err)
	}
	return p.mail, p.next, nil
}

// collect takes p's messages through q and finds when its next one is due.
func (db *DB) collect(ctx context.Context, q querier, p *pendingCollect) error {
	mail, err := queryAll(ctx, q, scanMail, collectSQL, p.recipient, p.at)
	if err != nil {
		return err
	}
	slices.SortFunc(mail, func(a, b Mail) int { return a.QueuedAt.Compare(b.QueuedAt) })
	p.mail, p.next = mail, time.Time{}
	if len(mail) > 0 {
		return nil
	}
	var due *time.Time
	if err := q.QueryRowContext(ctx, nextMailSQL, p.recipient, p.at).Scan(scanNullTime(&due)); err != nil {
		return fmt.Errorf("next mail: %w", err)
	}
	if due != nil {
		p.next = *due
	}
	return nil
}
