package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Page sizes of ListSessions.
const (
	// DefaultSessionLimit is the page size when SessionFilter.Limit is 0.
	DefaultSessionLimit = 100
	// MaxSessionLimit is the largest page ListSessions returns.
	MaxSessionLimit = 1000
)

// Session is one relayed Guest↔Host connection.
type Session struct {
	// ID is the session id carried by both tickets.
	ID string
	// DecisionID is the decision that allowed the session.
	DecisionID string
	// Subject is the Guest's user id.
	Subject string
	// HostID is the Host's id.
	HostID string
	// RelayID is the CS that splices the session.
	RelayID string
	// Transport is how the ends reach the CS (e.g. "tcp", "http").
	Transport string
	// Encryption is the negotiated encryption level.
	Encryption string
	// Channels are the channel kinds the session may open.
	Channels []string
	// StartedAt is when the session was created.
	StartedAt time.Time
	// EndedAt is when the session ended; nil while live.
	EndedAt *time.Time
	// BytesUp counts Guest→Host bytes.
	BytesUp int64
	// BytesDown counts Host→Guest bytes.
	BytesDown int64
	// EndReason says why the session ended.
	EndReason string
}

// SessionFilter selects sessions; zero fields match everything.
type SessionFilter struct {
	// Subject, when set, keeps the Guest's sessions.
	Subject string
	// HostID, when set, keeps the Host's sessions.
	HostID string
	// Live, when set, keeps live (true) or ended (false) sessions.
	Live *bool
	// Limit bounds the result (DefaultSessionLimit when 0, at most MaxSessionLimit).
	Limit int
}

// sessionColumns lists sessions' columns in scanSession's order.
const sessionColumns = "id, decision_id, subject, host_id, relay_id, transport, encryption, channels," +
	" started_at, ended_at, bytes_up, bytes_down, end_reason"

// scanSession reads one sessions row.
func scanSession(r rowScanner) (Session, error) {
	var s Session
	var channels string
	err := r.Scan(&s.ID, &s.DecisionID, &s.Subject, &s.HostID, &s.RelayID, &s.Transport, &s.Encryption, &channels,
		scanTime(&s.StartedAt), scanNullTime(&s.EndedAt), &s.BytesUp, &s.BytesDown, &s.EndReason)
	if err != nil {
		return s, err
	}
	s.Channels, err = decodeList(channels)
	return s, err
}

// CreateSession records a new session (normally live: EndedAt nil). ErrConflict on a duplicate id.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	if err := db.createSession(ctx, s); err != nil {
		return fmt.Errorf("store: create session %q: %w", s.ID, err)
	}
	return nil
}

// createSession validates and inserts s.
func (db *DB) createSession(ctx context.Context, s Session) error {
	if err := requireID("session", s.ID); err != nil {
		return err
	}
	if s.StartedAt.IsZero() {
		return fmt.Errorf("%w: session start time is zero", ErrInvalid)
	}
	channels, err := encodeList(s.Channels)
	if err != nil {
		return err
	}
	var ended any
	if s.EndedAt != nil {
		ended = db.d.timeArg(*s.EndedAt)
	}
	args := []any{s.ID, s.DecisionID, s.Subject, s.HostID, s.RelayID, s.Transport, s.Encryption, channels,
		db.d.timeArg(s.StartedAt), ended, s.BytesUp, s.BytesDown, s.EndReason}
	return db.sessions.submit(ctx, db.batchCommitter(db.insertSession), args) // group commit: see groupcommit.go
}

// EndSession records the end of a live session. It is idempotent: the first end wins, and ending
// an ended session again changes nothing and returns nil. ErrNotFound for an unknown id.
func (db *DB) EndSession(ctx context.Context, id string, end time.Time, up, down int64, reason string) error {
	if end.IsZero() {
		return fmt.Errorf("store: end session %q: %w: end time is zero", id, ErrInvalid)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := execOne(ctx, tx,
			"UPDATE sessions SET ended_at = $1, bytes_up = $2, bytes_down = $3, end_reason = $4 WHERE id = $5 AND ended_at IS NULL",
			db.d.timeArg(end), up, down, reason, id)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		var one int
		return tx.QueryRowContext(ctx, "SELECT 1 FROM sessions WHERE id = $1", id).Scan(&one)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: end session %q: %w", id, err)
	}
	return nil
}

// SetSessionTransport records how the ends of a session reached its relay (e.g. "tcp",
// "http", "guest=http host=tcp"), as the relay reports at pairing. ErrNotFound.
func (db *DB) SetSessionTransport(ctx context.Context, id, transport string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "UPDATE sessions SET transport = $1 WHERE id = $2", transport, id)
	})
	if err != nil {
		return fmt.Errorf("store: set session %q transport: %w", id, err)
	}
	return nil
}

// GetSession returns the session with this id; ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (Session, error) {
	s, err := queryOne(ctx, db.sql, scanSession, "SELECT "+sessionColumns+" FROM sessions WHERE id = $1", id)
	if err != nil {
		return Session{}, fmt.Errorf("store: get session %q: %w", id, err)
	}
	return s, nil
}

// ListSessions returns the sessions f selects, newest first.
func (db *DB) ListSessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	var w where
	if f.Subject != "" {
		w.add("subject = ?", f.Subject)
	}
	if f.HostID != "" {
		w.add("host_id = ?", f.HostID)
	}
	if f.Live != nil && *f.Live {
		w.add("ended_at IS NULL")
	}
	if f.Live != nil && !*f.Live {
		w.add("ended_at IS NOT NULL")
	}
	limit := clampLimit(f.Limit, DefaultSessionLimit, MaxSessionLimit)
	query := fmt.Sprintf("SELECT %s FROM sessions%s ORDER BY started_at DESC, id DESC LIMIT %d", sessionColumns, &w, limit)
	ss, err := queryAll(ctx, db.sql, scanSession, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return ss, nil
}
