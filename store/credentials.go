package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrReplayed reports a one-time value presented again: an ID token already exchanged for a
// credential, or a signed heartbeat whose counter is not above the last one accepted.
var ErrReplayed = errors.New("replayed")

// CredentialGrant records that an ID token was exchanged for a Guest client certificate.
type CredentialGrant struct {
	// TokenHash is the SHA-256 of the exchanged ID token's signed content, its JWS signing
	// input (identity.ReplayKey): the same for every spelling and every signature of one token.
	TokenHash []byte
	// Subject is the user the certificate names.
	Subject string
	// CertSerial is the serial of the issued certificate.
	CertSerial string
	// GrantedAt is when the certificate was issued.
	GrantedAt time.Time
	// ExpiresAt is when the ID token expires; the record may be forgotten after it.
	ExpiresAt time.Time
}

// RecordCredentialGrant records g unless its token was exchanged before (ErrReplayed). Records
// whose token expired before g.GrantedAt are forgotten in the same transaction.
func (db *DB) RecordCredentialGrant(ctx context.Context, g CredentialGrant) error {
	if len(g.TokenHash) == 0 {
		return fmt.Errorf("store: record credential grant: %w: token hash is empty", ErrInvalid)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM credential_grants WHERE expires_at < $1", db.d.timeArg(g.GrantedAt)); err != nil {
			return err
		}
		return db.insert(ctx, tx,
			"INSERT INTO credential_grants (token_hash, subject, cert_serial, granted_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
			g.TokenHash, g.Subject, g.CertSerial, db.d.timeArg(g.GrantedAt), db.d.timeArg(g.ExpiresAt))
	})
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("store: record credential grant for %q: %w", g.Subject, ErrReplayed)
	}
	if err != nil {
		return fmt.Errorf("store: record credential grant for %q: %w", g.Subject, err)
	}
	return nil
}

// AdvanceHeartbeatCounter accepts counter as the host's latest signed-heartbeat counter when it
// is larger than every counter accepted before; otherwise ErrReplayed. ErrNotFound for an
// unknown host.
func (db *DB) AdvanceHeartbeatCounter(ctx context.Context, id string, counter int64) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, "UPDATE hosts SET heartbeat_counter = $1 WHERE id = $2 AND heartbeat_counter < $1", counter, id)
		if err != nil || n > 0 {
			return err
		}
		var exists int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM hosts WHERE id = $1", id).Scan(&exists); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return ErrReplayed
	})
	if err != nil {
		return fmt.Errorf("store: heartbeat counter of host %q: %w", id, err)
	}
	return nil
}

// SetHostCertSerial records the serial of a host's renewed client certificate; ErrNotFound.
func (db *DB) SetHostCertSerial(ctx context.Context, id, serial string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "UPDATE hosts SET cert_serial = $1 WHERE id = $2", serial, id)
	})
	if err != nil {
		return fmt.Errorf("store: set certificate serial of host %q: %w", id, err)
	}
	return nil
}
