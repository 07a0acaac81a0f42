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
// payload is the recipient.
const mailChannel = "portcullis_mail"

// listenReconnectDelay is the pause before ListenMail connects again after losing its
// connection.
const listenReconnectDelay = time.Second

// CanListen reports whether ListenMail works on this database (PostgreSQL); elsewhere a
// replica learns of new mail by polling MailRecipientsSince.
func (db *DB) CanListen() bool { return db.d.kind == kindPostgres && db.listenDSN != "" }

// ListenMail calls wake with the recipient of every message posted from now on, by any
// replica, until ctx ends; resync is called whenever the listening connection is (re)made,
// since messages posted while it was down were not announced. It reconnects by itself and
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
	l.Handle(mailChannel, mailHandler{wake: wake, resync: resync})
	err := l.Listen(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("store: listen for mail: %w", err)
}

// mailHandler passes mailChannel's notifications on.
type mailHandler struct {
	wake   func(string)
	resync func()
}

// HandleNotification wakes the message's recipient.
func (h mailHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	h.wake(n.Payload)
	return nil
}

// HandleBacklog runs when the listener (re)connects.
func (h mailHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.resync()
	return nil
}
