package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Relay is a Connection Server as last reported.
type Relay struct {
	// ID is the CS id (the ticket audience).
	ID string
	// Addr is where Hosts and Guests dial the CS (host:port).
	Addr string
	// Region places the CS, e.g. "eu-north".
	Region string
	// Owner is "vendor" or the tenant that runs the CS.
	Owner string
	// Private relays serve only their owner's hosts.
	Private bool
	// Sessions is the number of live sessions the CS reported.
	Sessions int
	// BytesPerSec is the CS's reported throughput.
	BytesPerSec int64
	// HTTPAddr is the CS's HTTP fallback base URL (e.g. http://cs.example.com:80); "" if none.
	HTTPAddr string
	// MaxSessions is the CS's capacity; 0 means unknown (never full).
	MaxSessions int
	// Healthy relays may be picked for new sessions.
	Healthy bool
	// LastSeen is the CS's last report.
	LastSeen time.Time
}

// relayColumns lists relays' columns in scanRelay's order. The column http_key (migration 0003,
// the HTTP fallback's former X25519 key) is no longer written or read: it keeps its default ”.
const relayColumns = "id, addr, region, owner, private, sessions, bytes_per_sec, healthy, last_seen, http_addr, max_sessions"

// scanRelay reads one relays row.
func scanRelay(r rowScanner) (Relay, error) {
	var rl Relay
	err := r.Scan(&rl.ID, &rl.Addr, &rl.Region, &rl.Owner, &rl.Private, &rl.Sessions, &rl.BytesPerSec,
		&rl.Healthy, scanTime(&rl.LastSeen), &rl.HTTPAddr, &rl.MaxSessions)
	return rl, err
}

// UpsertRelay creates the relay or replaces every field of the existing one with this id.
func (db *DB) UpsertRelay(ctx context.Context, r Relay) error {
	if err := requireID("relay", r.ID); err != nil {
		return fmt.Errorf("store: upsert relay: %w", err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO relays ("+relayColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"+
			" ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, region = excluded.region, owner = excluded.owner,"+
			" private = excluded.private, sessions = excluded.sessions, bytes_per_sec = excluded.bytes_per_sec,"+
			" healthy = excluded.healthy, last_seen = excluded.last_seen, http_addr = excluded.http_addr,"+
			" max_sessions = excluded.max_sessions",
			r.ID, r.Addr, r.Region, r.Owner, r.Private, r.Sessions, r.BytesPerSec, r.Healthy, db.d.timeArg(r.LastSeen),
			r.HTTPAddr, r.MaxSessions)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: upsert relay %q: %w", r.ID, err)
	}
	return nil
}

// ListRelays returns every relay ordered by id.
func (db *DB) ListRelays(ctx context.Context) ([]Relay, error) {
	rs, err := queryAll(ctx, db.sql, scanRelay, "SELECT "+relayColumns+" FROM relays ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: list relays: %w", err)
	}
	return rs, nil
}

// RelayIdentity is a tenant's private Connection Server, enrolled with a relay enrollment token.
type RelayIdentity struct {
	// ID is the relay's id (its ticket audience and the CN "relay:<id>" of its certificate).
	ID string
	// Tenant owns the relay; it serves only that tenant's sessions.
	Tenant string
	// CertSerial is the serial of the relay's client certificate.
	CertSerial string
	// EnrolledAt is when the relay enrolled.
	EnrolledAt time.Time
}

// relayIdentityColumns lists relay_identities' columns in scanRelayIdentity's order.
const relayIdentityColumns = "id, tenant, cert_serial, enrolled_at"

func scanRelayIdentity(r rowScanner) (RelayIdentity, error) {
	var ri RelayIdentity
	err := r.Scan(&ri.ID, &ri.Tenant, &ri.CertSerial, scanTime(&ri.EnrolledAt))
	return ri, err
}

// EnrollRelay consumes the relay enrollment token with this hash and records the relay in one
// transaction; the relay gets the token's tenant. ErrConflict when the id is taken; the token
// errors of ConsumeEnrollmentToken (a host token is ErrNotFound here).
func (db *DB) EnrollRelay(ctx context.Context, hash []byte, ri RelayIdentity, now time.Time) (RelayIdentity, error) {
	if err := requireID("relay", ri.ID); err != nil {
		return RelayIdentity{}, fmt.Errorf("store: enroll relay: %w", err)
	}
	ri.EnrolledAt = normTime(now)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		tok, err := db.consumeToken(ctx, tx, hash, TokenKindRelay, ri.ID, now)
		if err != nil {
			return err
		}
		ri.Tenant = tok.Tenant
		return db.insert(ctx, tx, "INSERT INTO relay_identities ("+relayIdentityColumns+") VALUES ($1, $2, $3, $4)",
			ri.ID, ri.Tenant, ri.CertSerial, db.d.timeArg(ri.EnrolledAt))
	})
	if err != nil {
		return RelayIdentity{}, fmt.Errorf("store: enroll relay %q: %w", ri.ID, err)
	}
	return ri, nil
}

// GetRelayIdentity returns the enrolled relay with this id; ErrNotFound.
func (db *DB) GetRelayIdentity(ctx context.Context, id string) (RelayIdentity, error) {
	ri, err := queryOne(ctx, db.sql, scanRelayIdentity, "SELECT "+relayIdentityColumns+" FROM relay_identities WHERE id = $1", id)
	if err != nil {
		return RelayIdentity{}, fmt.Errorf("store: get relay identity %q: %w", id, err)
	}
	return ri, nil
}
