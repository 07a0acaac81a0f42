package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
	// HostName is the Host's name when the session started.
	HostName string
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
	// ChannelsOpened counts the channels the Guest opened, as the Host reported.
	ChannelsOpened int64
	// MaxDuration is how long after StartedAt the relay and the Host cut the session (the
	// decision's max_duration_seconds obligation): 0 means no limit, a negative value unknown
	// (a session recorded before the store kept it).
	MaxDuration time.Duration
}

// SessionFilter selects sessions; zero fields match everything.
type SessionFilter struct {
	// Subject, when set, keeps the Guest's sessions.
	Subject string
	// HostID, when set, keeps the Host's sessions.
	HostID string
	// RelayID, when set, keeps the sessions the relay splices.
	RelayID string
	// DecisionID, when set, keeps the session this decision allowed.
	DecisionID string
	// Live, when set, keeps live (true) or ended (false) sessions.
	Live *bool
	// Limit bounds the page (DefaultSessionLimit when 0, at most MaxSessionLimit).
	Limit int
	// After, when set, is the cursor ListSessions returned with the previous page: the page
	// starts after that page's last session.
	After string
}

// sessionColumns lists sessions' columns in scanSession's order.
const sessionColumns = "id, decision_id, subject, host_id, relay_id, transport, encryption, channels," +
	" started_at, ended_at, bytes_up, bytes_down, end_reason, host_name, channels_opened, max_duration_seconds"

// scanSession reads one sessions row.
func scanSession(r rowScanner) (Session, error) {
	var s Session
	var channels string
	var maxSeconds int64
	err := r.Scan(&s.ID, &s.DecisionID, &s.Subject, &s.HostID, &s.RelayID, &s.Transport, &s.Encryption, &channels,
		scanTime(&s.StartedAt), scanNullTime(&s.EndedAt), &s.BytesUp, &s.BytesDown, &s.EndReason, &s.HostName, &s.ChannelsOpened,
		&maxSeconds)
	if err != nil {
		return s, err
	}
	s.MaxDuration = time.Duration(maxSeconds) * time.Second
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
	args, err := db.sessionArgs(s)
	if err != nil {
		return err
	}
	p := &pendingInsert{args: args, done: make(chan error, 1)}
	return db.writes.submit(ctx, db.commitWrites, &pendingWrite{session: p}, p.done, nil) // group commit: see groupcommit.go
}

// sessionArgCount is how many arguments one session's row takes (sessionArgs).
const sessionArgCount = 16

// sessionArgs validates s and encodes it as the INSERT's arguments, in sessionColumns' order.
func (db *DB) sessionArgs(s Session) ([]any, error) {
	if err := requireID("session", s.ID); err != nil {
		return nil, err
	}
	if s.StartedAt.IsZero() {
		return nil, fmt.Errorf("%w: session start time is zero", ErrInvalid)
	}
	channels, err := encodeList(s.Channels)
	if err != nil {
		return nil, err
	}
	var ended any
	if s.EndedAt != nil {
		ended = db.d.timeArg(*s.EndedAt)
	}
	maxSeconds := int64(-1)
	if s.MaxDuration >= 0 {
		maxSeconds = int64(s.MaxDuration / time.Second)
	}
	return []any{s.ID, s.DecisionID, s.Subject, s.HostID, s.RelayID, s.Transport, s.Encryption, channels,
		db.d.timeArg(s.StartedAt), ended, s.BytesUp, s.BytesDown, s.EndReason, s.HostName, s.ChannelsOpened, maxSeconds}, nil
}

// EndSession records the end of a live session. It is idempotent: the first end's time and
// reason win, and a later report only raises the byte counts (the CM may end a session before
// the CS reports its bytes). ErrNotFound for an unknown id.
func (db *DB) EndSession(ctx context.Context, id string, end time.Time, up, down int64, reason string) error {
	if end.IsZero() {
		return fmt.Errorf("store: end session %q: %w: end time is zero", id, ErrInvalid)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx,
			"UPDATE sessions SET end_reason = CASE WHEN ended_at IS NULL THEN $4 ELSE end_reason END,"+
				" ended_at = COALESCE(ended_at, $1),"+
				" bytes_up = CASE WHEN bytes_up < $2 THEN $2 ELSE bytes_up END,"+
				" bytes_down = CASE WHEN bytes_down < $3 THEN $3 ELSE bytes_down END WHERE id = $5",
			db.d.timeArg(end), up, down, reason, id)
	})
	if err != nil {
		return fmt.Errorf("store: end session %q: %w", id, err)
	}
	return nil
}

// EndSessions records the end of the sessions ids at end, for reason, in one transaction per
// LivePageSize ids: those already ended keep their first end. ErrInvalid for a zero end.
func (db *DB) EndSessions(ctx context.Context, ids []string, end time.Time, reason string) error {
	if end.IsZero() {
		return fmt.Errorf("store: end sessions: %w: end time is zero", ErrInvalid)
	}
	for chunk := range slices.Chunk(ids, LivePageSize) {
		args := append([]any{reason, db.d.timeArg(end)}, anys(chunk)...)
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE sessions SET end_reason = $1, ended_at = $2 WHERE ended_at IS NULL AND id IN ("+
				idMarks(3, len(chunk))+")", args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: end %d sessions: %w", len(chunk), err)
		}
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

// RecordHostEnd records a Host's report of a session's end: the channels the Guest opened and,
// when reason is not empty, the end. The Host's reason replaces a recorded one only when that
// one is among generic (such as a relay's "closed", which says less than "max_duration"); the
// first end time stays. ErrNotFound for an unknown id.
func (db *DB) RecordHostEnd(ctx context.Context, id string, end time.Time, channels int64, reason string, generic ...string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var endedAt *time.Time
		var current string
		err := tx.QueryRowContext(ctx, "SELECT ended_at, end_reason FROM sessions WHERE id = $1", id).Scan(scanNullTime(&endedAt), &current)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if reason == "" || endedAt != nil && !slices.Contains(generic, current) {
			reason = current
		}
		if endedAt == nil && reason != "" {
			endedAt = &end
		}
		var endArg any
		if endedAt != nil {
			endArg = db.d.timeArg(*endedAt)
		}
		return execOne(ctx, tx, "UPDATE sessions SET channels_opened = $1, end_reason = $2, ended_at = $3 WHERE id = $4",
			channels, reason, endArg, id)
	})
	if err != nil {
		return fmt.Errorf("store: record host end of session %q: %w", id, err)
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

// ListSessions returns a page of the sessions f selects, newest first (by start, then id), and
// the cursor of the next page ("" after the last page). Paging is by keyset, as
// ListDecisions': sessions created meanwhile never shift a page, and pages neither repeat nor
// skip a session. ErrInvalid for a cursor ListSessions did not make.
func (db *DB) ListSessions(ctx context.Context, f SessionFilter) ([]Session, string, error) {
	w, err := db.sessionWhere(f)
	if err != nil {
		return nil, "", fmt.Errorf("store: list sessions: %w", err)
	}
	query := "SELECT " + sessionColumns + " FROM sessions" + w.String() + " ORDER BY started_at DESC, id DESC"
	ss, next, err := queryPage(ctx, db.sql, scanSession, query, w.args, clampLimit(f.Limit, DefaultSessionLimit, MaxSessionLimit), SessionCursor)
	if err != nil {
		return nil, "", fmt.Errorf("store: list sessions: %w", err)
	}
	return ss, next, nil
}

// SessionCursor is the cursor of the page that follows s: ListSessions with it as
// SessionFilter.After starts after s.
func SessionCursor(s Session) string { return encodeCursor(s.StartedAt, s.ID) }

// sessionWhere is the WHERE clause of the sessions f selects.
func (db *DB) sessionWhere(f SessionFilter) (where, error) {
	var w where
	if f.Subject != "" {
		w.add("subject = ?", f.Subject)
	}
	if f.HostID != "" {
		w.add("host_id = ?", f.HostID)
	}
	if f.RelayID != "" {
		w.add("relay_id = ?", f.RelayID)
	}
	if f.DecisionID != "" {
		w.add("decision_id = ?", f.DecisionID)
	}
	if f.Live != nil && *f.Live {
		w.add("ended_at IS NULL")
	}
	if f.Live != nil && !*f.Live {
		w.add("ended_at IS NOT NULL")
	}
	err := db.addBefore(&w, "started_at", f.After)
	return w, err
}

// LivePageSize is how many live sessions EachLiveSession reads per query.
const LivePageSize = 500

// LiveFilter selects live sessions; zero fields match every live session.
type LiveFilter struct {
	// Subject, when set, keeps the Guest's sessions.
	Subject string
	// HostID, when set, keeps the Host's sessions.
	HostID string
	// RelayID, when set, keeps the sessions the relay splices.
	RelayID string
	// StartedUntil, when not zero, keeps the sessions started at or before it: the walk, in
	// start order, stops there instead of reading every later session.
	StartedUntil time.Time
}

// EachLiveSession calls fn with every live session f selects, oldest first (by start, then id),
// without a cap: it pages by keyset on (started_at, id), LivePageSize rows per query, and holds
// no query open while fn runs, so fn may end the session it is given. A session that starts
// during the walk is visited when it sorts after the walk's position. It stops at fn's first
// error and returns it.
func (db *DB) EachLiveSession(ctx context.Context, f LiveFilter, fn func(Session) error) error {
	return db.EachLiveSessionPage(ctx, f, func(page []Session) error {
		for _, sess := range page {
			if err := fn(sess); err != nil {
				return err
			}
		}
		return nil
	})
}

// EachLiveSessionPage is EachLiveSession a page (up to LivePageSize sessions) at a time, for
// callers that act on many sessions at once.
func (db *DB) EachLiveSessionPage(ctx context.Context, f LiveFilter, fn func([]Session) error) error {
	return eachPage(LivePageSize, func(after *Session) ([]Session, error) {
		page, err := db.liveSessionPage(ctx, f, after)
		if err != nil {
			return nil, fmt.Errorf("store: live sessions: %w", err)
		}
		return page, nil
	}, fn)
}

// liveSessionPage reads the next LivePageSize live sessions f selects after the session after
// (from the oldest when nil).
func (db *DB) liveSessionPage(ctx context.Context, f LiveFilter, after *Session) ([]Session, error) {
	var w where
	w.add("ended_at IS NULL")
	if f.Subject != "" {
		w.add("subject = ?", f.Subject)
	}
	if f.HostID != "" {
		w.add("host_id = ?", f.HostID)
	}
	if f.RelayID != "" {
		w.add("relay_id = ?", f.RelayID)
	}
	if !f.StartedUntil.IsZero() {
		w.add("started_at <= ?", db.d.timeArg(f.StartedUntil))
	}
	if after != nil {
		// A row-value comparison: both databases seek the (…, started_at, id) indexes with it.
		w.add("(started_at, id) > (?, ?)", db.d.timeArg(after.StartedAt), after.ID)
	}
	query := fmt.Sprintf("SELECT %s FROM sessions%s ORDER BY started_at, id LIMIT %d", sessionColumns, &w, LivePageSize)
	return queryAll(ctx, db.sql, scanSession, query, w.args...)
}
