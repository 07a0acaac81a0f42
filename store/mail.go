package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ErrMailboxFull reports that a recipient already has MaxMail messages waiting.
var ErrMailboxFull = errors.New("mailbox full")

// MaxMail bounds the unexpired messages waiting for one recipient.
const MaxMail = 256

// MaxMailBody bounds the body of one message, in bytes: MaxCollect of them, what one
// collection takes, fit in 3/4 MiB, so that a long-poll's answer fits in the 1 MiB its client
// reads. PostMail and PostOrders refuse a longer body (ErrInvalid); the CM cuts the reason of
// an order to end a session to fit.
const MaxMailBody = 12 << 10

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
// body, queue time or expiry, with a body longer than MaxMailBody, or that expires before it
// is due; ErrMailboxFull when the recipient has
// MaxMail unexpired messages waiting.
func (db *DB) PostMail(ctx context.Context, m Mail) error {
	m, err := readyMail(m)
	if err != nil {
		return err
	}
	args := db.mailArgs(m)
	// One statement, outside an explicit transaction: concurrent posts to one recipient never
	// conflict (the bound may be overshot by the posts racing for its last places).
	err = db.write(ctx, func(q execQuerier) error {
		res, err := q.ExecContext(ctx, db.postMailSQL(), args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, ErrMailboxFull)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: post mail to %s: %w", m.Recipient, err)
	}
	return nil
}

// readyMail validates m and returns it ready to post: with an id when it has none, and due
// when queued unless it says otherwise.
func readyMail(m Mail) (Mail, error) {
	if m.Recipient == "" || len(m.Body) == 0 || m.QueuedAt.IsZero() || m.ExpiresAt.IsZero() {
		return Mail{}, fmt.Errorf("store: post mail: %w: recipient, body, queue time and expiry are required", ErrInvalid)
	}
	if len(m.Body) > MaxMailBody {
		return Mail{}, fmt.Errorf("store: post mail to %s: %w: a body of %d bytes exceeds %d", m.Recipient, ErrInvalid, len(m.Body), MaxMailBody)
	}
	if m.DeliverAt.IsZero() {
		m.DeliverAt = m.QueuedAt
	}
	if !m.ExpiresAt.After(m.DeliverAt) {
		return Mail{}, fmt.Errorf("store: post mail to %s: %w: it expires before it is due", m.Recipient, ErrInvalid)
	}
	if m.ID == "" {
		m.ID = rand.Text()
	}
	return m, nil
}

// mailArgs encodes m, ready to post (readyMail), as postMailSQL's arguments.
func (db *DB) mailArgs(m Mail) []any {
	return []any{m.ID, m.Recipient, m.Body, db.d.timeArg(m.QueuedAt), db.d.timeArg(m.DeliverAt), db.d.timeArg(m.ExpiresAt), MaxMail}
}

// PostOrders queues orders to end sessions, a hundred per transaction, and on PostgreSQL wakes
// the replicas listening for mail once per recipient. It returns how many of the first orders
// it posted: on an error the rest are not. Unlike PostMail it is not bound by MaxMail: orders
// come from the CM alone, one per live session it ends, and an order refused for room would
// leave a session running. ErrInvalid (nothing posted) for an order as PostMail refuses.
func (db *DB) PostOrders(ctx context.Context, orders []Mail) (int, error) {
	orders = slices.Clone(orders)
	for i := range orders {
		m := &orders[i]
		if m.DeliverAt.IsZero() {
			m.DeliverAt = m.QueuedAt
		}
		if m.Recipient == "" || len(m.Body) == 0 || m.ExpiresAt.IsZero() || !m.ExpiresAt.After(m.DeliverAt) {
			return 0, fmt.Errorf("store: post orders: %w: order %d lacks a recipient, a body or a due time before its expiry", ErrInvalid, i)
		}
		if len(m.Body) > MaxMailBody {
			return 0, fmt.Errorf("store: post orders: %w: order %d has a body of %d bytes, more than %d", ErrInvalid, i, len(m.Body), MaxMailBody)
		}
		if m.ID == "" {
			m.ID = rand.Text()
		}
	}
	posted := 0
	for chunk := range slices.Chunk(orders, ordersPerTx) {
		if err := db.inTx(ctx, func(tx *sql.Tx) error { return db.insertOrders(ctx, tx, chunk) }); err != nil {
			return posted, fmt.Errorf("store: post %d orders: %w", len(orders)-posted, err)
		}
		posted += len(chunk)
	}
	return posted, nil
}

// ordersPerTx bounds the orders PostOrders inserts with one statement (6 arguments each).
const ordersPerTx = 100

// insertOrders inserts orders with one statement and, on PostgreSQL, notifies each recipient.
func (db *DB) insertOrders(ctx context.Context, tx *sql.Tx, orders []Mail) error {
	rows := make([]string, len(orders))
	args := make([]any, 0, 6*len(orders))
	recipients := map[string]bool{}
	for i, m := range orders {
		n := len(args)
		rows[i] = fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, m.ID, m.Recipient, m.Body, db.d.timeArg(m.QueuedAt), db.d.timeArg(m.DeliverAt), db.d.timeArg(m.ExpiresAt))
		recipients[m.Recipient] = true
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO mail ("+mailColumns+") VALUES "+strings.Join(rows, ", "), args...); err != nil {
		return err
	}
	if db.d.kind != kindPostgres {
		return nil
	}
	for _, r := range slices.Sorted(maps.Keys(recipients)) {
		if _, err := tx.ExecContext(ctx, "SELECT "+db.notifyMail("$1"), r); err != nil {
			return err
		}
	}
	return nil
}

// postMailSQL inserts a message unless its recipient has $7 unexpired ones waiting; on
// PostgreSQL it also notifies mailChannel, when the insert commits. The count stops at $7:
// without the LIMIT, PostgreSQL's planner counted through a bitmap of mail_expires, every
// unexpired message of every recipient, the deleted ones too until a vacuum (under a
// connect load, thousands per statement: the statement cost more than the decision's insert).
func (db *DB) postMailSQL() string {
	insert := "INSERT INTO mail (" + mailColumns + ") SELECT $1, $2, $3, $4, $5, $6 " +
		"WHERE (SELECT count(*) FROM (SELECT 1 FROM mail WHERE recipient = $2 AND expires_at > $4 LIMIT $7) AS waiting) < $7"
	if db.d.kind != kindPostgres {
		return insert
	}
	return "WITH posted AS (" + insert + " RETURNING recipient) SELECT " + db.notifyMail("recipient") + " FROM posted"
}

// postMailRowsSQL (PostgreSQL) is postMailSQL for many messages in one statement, given as
// arrays of their ids, recipients, bodies and times ($1 to $6), and returns the ids of those it
// inserted. Each takes a place in its recipient's mailbox, after the unexpired messages already
// waiting and this statement's earlier messages to the same recipient, and is inserted only if
// that place is within $7; each recipient's listeners are notified when the insert commits.
func (db *DB) postMailRowsSQL() string {
	return "WITH v AS (SELECT *, row_number() OVER (PARTITION BY recipient ORDER BY n) AS place" +
		" FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[])" +
		" WITH ORDINALITY AS m (" + mailColumns + ", n))," +
		" posted AS (INSERT INTO mail (" + mailColumns + ") SELECT " + mailColumns + " FROM v" +
		" WHERE (SELECT count(*) FROM (SELECT 1 FROM mail WHERE mail.recipient = v.recipient AND mail.expires_at > v.queued_at" +
		" LIMIT $7) AS waiting) + v.place <= $7 RETURNING id, recipient)" +
		" SELECT id, " + db.notifyMail("recipient") + " FROM posted"
}

// DiscardExpiredMail deletes up to limit messages that expired undelivered at now and returns
// them, so that the caller can act on what never arrived.
func (db *DB) DiscardExpiredMail(ctx context.Context, now time.Time, limit int) ([]Mail, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: discard expired mail: %w: limit must be positive", ErrInvalid)
	}
	var mail []Mail
	err := db.write(ctx, func(q execQuerier) error {
		var err error
		mail, err = queryAll(ctx, q, scanMail,
			"DELETE FROM mail WHERE id IN (SELECT id FROM mail WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2) RETURNING "+mailColumns,
			db.d.timeArg(now), limit)
		return err
	})
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
