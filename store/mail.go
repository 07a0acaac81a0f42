package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrMailboxFull reports that a recipient already has MaxMail messages waiting.
var ErrMailboxFull = errors.New("mailbox full")

// MaxMail bounds the unexpired messages waiting for one recipient.
const MaxMail = 256

// Mail is one message for an agent that polls the CM: a Host's connection request or order to
// end a session, or a Connection Server's order to end one. Any replica posts it, the replica
// the recipient polls delivers it, once.
type Mail struct {
	// ID is set by PostMail when empty.
	ID string
	// Recipient is HostMailbox(id) or RelayMailbox(id).
	Recipient string
	// Body is the message as sent to the recipient (JSON).
	Body []byte
	// QueuedAt is when it was posted; DeliverAt the earliest time it is handed over; ExpiresAt
	// when it is discarded undelivered.
	QueuedAt, DeliverAt, ExpiresAt time.Time
}

// HostMailbox names the mailbox of the Host id.
func HostMailbox(id string) string { return "host:" + id }

// RelayMailbox names the mailbox of the Connection Server id.
func RelayMailbox(id string) string { return "relay:" + id }

// mailColumns lists mail's columns in scanMail's order.
const mailColumns = "id, recipient, body, queued_at, deliver_at, expires_at"

func scanMail(r rowScanner) (Mail, error) {
	var m Mail
	err := r.Scan(&m.ID, &m.Recipient, &m.Body, scanTime(&m.QueuedAt), scanTime(&m.DeliverAt), scanTime(&m.ExpiresAt))
	return m, err
}

// PostMail queues m for its recipient and, on PostgreSQL, wakes the replicas listening for
// mail (ListenMail) when the transaction commits. ErrInvalid for a message without recipient,
// body or expiry, or that expires before it is due; ErrMailboxFull when the recipient has
// MaxMail unexpired messages waiting.
func (db *DB) PostMail(ctx context.Context, m Mail) error {
	if m.Recipient == "" || len(m.Body) == 0 || m.ExpiresAt.IsZero() {
		return fmt.Errorf("store: post mail: %w: recipient, body and expiry are required", ErrInvalid)
	}
	if m.DeliverAt.IsZero() {
		m.DeliverAt = m.QueuedAt
	}
	if !m.ExpiresAt.After(m.DeliverAt) {
		return fmt.Errorf("store: post mail to %s: %w: it expires before it is due", m.Recipient, ErrInvalid)
	}
	if m.ID == "" {
		m.ID = rand.Text()
	}
	// One statement, outside an explicit transaction: concurrent posts to one recipient never
	// conflict (the bound may be overshot by the posts racing for its last places).
	res, err := db.sql.ExecContext(ctx, db.postMailSQL(), m.ID, m.Recipient, m.Body,
		db.d.timeArg(m.QueuedAt), db.d.timeArg(m.DeliverAt), db.d.timeArg(m.ExpiresAt), MaxMail)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrMailboxFull
		}
	}
	if err != nil {
		return fmt.Errorf("store: post mail to %s: %w", m.Recipient, err)
	}
	return nil
}

// postMailSQL inserts a message unless its recipient has $7 unexpired ones waiting; on
// PostgreSQL it also notifies mailChannel, when the insert commits.
func (db *DB) postMailSQL() string {
	insert := "INSERT INTO mail (" + mailColumns + ") SELECT $1, $2, $3, $4, $5, $6 " +
		"WHERE (SELECT count(*) FROM mail WHERE recipient = $2 AND expires_at > $4) < $7"
	if db.d.kind != kindPostgres {
		return insert
	}
	return "WITH posted AS (" + insert + " RETURNING recipient) SELECT pg_notify('" + mailChannel + "', recipient) FROM posted"
}

// CollectMail takes the recipient's messages that are due and unexpired at now, oldest first:
// each is returned to exactly one caller. next is when the earliest message not yet due will
// be, or zero.
//
// An empty mailbox, what nearly every long-poll finds, costs one read and no write.
func (db *DB) CollectMail(ctx context.Context, recipient string, now time.Time) (mail []Mail, next time.Time, err error) {
	at := db.d.timeArg(now)
	var first *time.Time
	if err := db.hot.QueryRowContext(ctx, "SELECT min(deliver_at) FROM mail WHERE recipient = $1 AND expires_at > $2",
		recipient, at).Scan(scanNullTime(&first)); err != nil {
		return nil, time.Time{}, fmt.Errorf("store: look for mail of %s: %w", recipient, err)
	}
	switch {
	case first == nil:
		return nil, time.Time{}, nil
	case first.After(now):
		return nil, *first, nil
	}
	mail, err = queryAll(ctx, db.hot, scanMail,
		"DELETE FROM mail WHERE recipient = $1 AND deliver_at <= $2 AND expires_at > $2 RETURNING "+mailColumns, recipient, at)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: collect mail of %s: %w", recipient, err)
	}
	slices.SortFunc(mail, func(a, b Mail) int { return a.QueuedAt.Compare(b.QueuedAt) })
	var due *time.Time
	if err := db.hot.QueryRowContext(ctx, "SELECT min(deliver_at) FROM mail WHERE recipient = $1 AND deliver_at > $2 AND expires_at > $2",
		recipient, at).Scan(scanNullTime(&due)); err != nil {
		return mail, time.Time{}, fmt.Errorf("store: next mail of %s: %w", recipient, err)
	}
	if due != nil {
		next = *due
	}
	return mail, next, nil
}

// DiscardExpiredMail deletes up to limit messages that expired undelivered at now and returns
// them, so that the caller can act on what never arrived.
func (db *DB) DiscardExpiredMail(ctx context.Context, now time.Time, limit int) ([]Mail, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: discard expired mail: %w: limit must be positive", ErrInvalid)
	}
	mail, err := queryAll(ctx, db.sql, scanMail,
		"DELETE FROM mail WHERE id IN (SELECT id FROM mail WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2) RETURNING "+mailColumns,
		db.d.timeArg(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: discard expired mail: %w", err)
	}
	return mail, nil
}

// MailRecipientsSince returns the recipients of messages queued at or after since: a replica
// that cannot listen for mail (CockroachDB) polls with it to learn whom to wake.
func (db *DB) MailRecipientsSince(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT DISTINCT recipient FROM mail WHERE queued_at >= $1", db.d.timeArg(since))
	if err != nil {
		return nil, fmt.Errorf("store: mail recipients: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("store: mail recipients: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mail recipients: %w", err)
	}
	return out, nil
}
