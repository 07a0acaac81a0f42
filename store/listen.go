package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// mailChannel is the PostgreSQL notification channel PostMail signals (postMailSQL); the
// payload is the posting DB's origin, a colon and the recipient (notifyMail).
const mailChannel = "portcullis_mail"

// originLen is the length of a DB's origin: 16 characters of rand.Text's base32 alphabet.
const originLen = 16

// notifyMail is the SQL expression that notifies mailChannel of a message to the recipient
// that expr gives, tagged with this DB's origin.
func (db *DB) notifyMail(expr string) string {
	return "pg_notify('" + mailChannel + "', '" + db.origin + ":' || " + expr + ")"
}

// splitNotice splits a notification's payload into its origin and recipient; an untagged
// payload (a replica of an earlier release) is a recipient alone, of no known origin.
func splitNotice(payload string) (origin, recipient string) {
	if len(payload) > originLen+1 && payload[originLen] == ':' && isOrigin(payload[:originLen]) {
		return payload[:originLen], payload[originLen+1:]
	}
	return "", payload
}

// isOrigin reports whether s is made of rand.Text's alphabet (A–Z, 2–7), as an origin is.
func isOrigin(s string) bool {
	for _, c := range []byte(s) {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// listenReconnectDelay is the pause before ListenMail connects again after losing its
// connection.
const listenReconnectDelay = time.Second

// CanListen reports whether ListenMail works on this database (PostgreSQL); elsewhere a
// replica learns of new mail by polling MailRecipientsSince.
func (db *DB) CanListen() bool { return db.d.kind == kindPostgres && db.listenDSN != "" }

// ListenMail calls wake with the recipient of every message posted from now on by any other
// replica, until ctx ends; resync is called whenever the listening connection is (re)made,
// since messages posted while it was down were not announced. The messages posted through db
// itself are not announced to it: whoever posts through db wakes its own waiters, and a second
// wake-up would only cost them a look at an empty mailbox. It reconnects by itself and
// returns only when ctx ends, or at once with an error where the database cannot listen.
func (db *DB) ListenMail(ctx context.Context, wake func(recipient string), resync func()) error {
	if !db.CanListen() {
		return fmt.Errorf("store: listen for mail: %s has no LISTEN/NOTIFY", db.d.kind)
	}
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, db.listenDSN) },
		LogError:       func(ctx context.Context, err error) { db.log.WarnContext(ctx, "listen for mail", "err", err) },
		ReconnectDelay: listenReconnectDelay,
	}
	l.Handle(mailChannel, mailHandler{wake: wake, resync: resync, origin: db.origin})
	err := l.Listen(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("store: listen for mail: %w", err)
}

// mailHandler passes mailChannel's notifications of other origins than its own on.
type mailHandler struct {
	wake   func(string)
	resync func()
	origin string
}

// HandleNotification wakes the message's recipient, unless the message was posted here.
func (h mailHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	if origin, recipient := splitNotice(n.Payload); origin != h.origin {
		h.wake(recipient)
	}
	return nil
}

// HandleBacklog runs when the listener (re)connects.
func (h mailHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.resync()
	return nil
}
