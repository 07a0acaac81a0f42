package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ConsoleSession is one browser signed in to the web console. The store keeps only the hash
// of the session cookie's token, so a copy of the store signs no one in.
type ConsoleSession struct {
	// TokenHash is the SHA-256 of the session cookie's token.
	TokenHash []byte
	// Subject is the signed-in user.
	Subject string
	// Claims are the verified ID token's claims as JSON.
	Claims []byte
	// CreatedAt is when the user signed in.
	CreatedAt time.Time
	// ExpiresAt ends the session (the ID token's expiry).
	ExpiresAt time.Time
}

// consoleSessionColumns lists console_sessions' columns in scanConsoleSession's order.
const consoleSessionColumns = "token_hash, subject, claims, created_at, expires_at"

func scanConsoleSession(r rowScanner) (ConsoleSession, error) {
	var s ConsoleSession
	var claims string
	err := r.Scan(&s.TokenHash, &s.Subject, &claims, scanTime(&s.CreatedAt), scanTime(&s.ExpiresAt))
	s.Claims = []byte(claims)
	return s, err
}

// CreateConsoleSession stores a new console session and forgets the sessions that expired
// before s.CreatedAt, in one transaction. ErrInvalid for a missing hash, subject or time, or
// an expiry not after the creation; ErrConflict for a hash already stored.
func (db *DB) CreateConsoleSession(ctx context.Context, s ConsoleSession) error {
	if len(s.TokenHash) == 0 || s.Subject == "" || s.CreatedAt.IsZero() || !s.ExpiresAt.After(s.CreatedAt) {
		return fmt.Errorf("store: create console session: %w: it needs a token hash, a subject and a creation before its expiry", ErrInvalid)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM console_sessions WHERE expires_at <= $1", db.d.timeArg(s.CreatedAt)); err != nil {
			return err
		}
		return db.insert(ctx, tx, "INSERT INTO console_sessions ("+consoleSessionColumns+") VALUES ($1, $2, $3, $4, $5)",
			s.TokenHash, s.Subject, string(s.Claims), db.d.timeArg(s.CreatedAt), db.d.timeArg(s.ExpiresAt))
	})
	if err != nil {
		return fmt.Errorf("store: create console session for %q: %w", s.Subject, err)
	}
	return nil
}

// GetConsoleSession returns the console session of the token hash that is live at now.
// ErrNotFound when there is none: never stored, signed out, or expired (an expired one is
// deleted).
func (db *DB) GetConsoleSession(ctx context.Context, hash []byte, now time.Time) (ConsoleSession, error) {
	s, err := queryOne(ctx, db.sql, scanConsoleSession, "SELECT "+consoleSessionColumns+" FROM console_sessions WHERE token_hash = $1", hash)
	if err != nil {
		return ConsoleSession{}, fmt.Errorf("store: get console session: %w", err)
	}
	if !now.Before(s.ExpiresAt) {
		if err := db.DeleteConsoleSession(ctx, hash); err != nil {
			return ConsoleSession{}, err
		}
		return ConsoleSession{}, fmt.Errorf("store: get console session: expired at %v: %w", s.ExpiresAt, ErrNotFound)
	}
	return s, nil
}

// DeleteConsoleSession ends the console session of the token hash (sign-out); deleting one
// that is not stored is no error.
func (db *DB) DeleteConsoleSession(ctx context.Context, hash []byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM console_sessions WHERE token_hash = $1", hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete console session: %w", err)
	}
	return nil
}

// DeleteExpiredConsoleSessions forgets the console sessions expired at now and returns how
// many.
func (db *DB) DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = execCount(ctx, tx, "DELETE FROM console_sessions WHERE expires_at <= $1", db.d.timeArg(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired console sessions: %w", err)
	}
	return n, nil
}
