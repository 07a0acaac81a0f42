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
	// Healthy relays may be picked for new sessions.
	Healthy bool
	// LastSeen is the CS's last report.
	LastSeen time.Time
}

// relayColumns lists relays' columns in scanRelay's order.
const relayColumns = "id, addr, region, owner, private, sessions, bytes_per_sec, healthy, last_seen"

// scanRelay reads one relays row.
func scanRelay(r rowScanner) (Relay, error) {
	var rl Relay
	err := r.Scan(&rl.ID, &rl.Addr, &rl.Region, &rl.Owner, &rl.Private, &rl.Sessions, &rl.BytesPerSec,
		&rl.Healthy, scanTime(&rl.LastSeen))
	return rl, err
}

// UpsertRelay creates the relay or replaces every field of the existing one with this id.
func (db *DB) UpsertRelay(ctx context.Context, r Relay) error {
	if err := requireID("relay", r.ID); err != nil {
		return fmt.Errorf("store: upsert relay: %w", err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO relays ("+relayColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"+
			" ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, region = excluded.region, owner = excluded.owner,"+
			" private = excluded.private, sessions = excluded.sessions, bytes_per_sec = excluded.bytes_per_sec,"+
			" healthy = excluded.healthy, last_seen = excluded.last_seen",
			r.ID, r.Addr, r.Region, r.Owner, r.Private, r.Sessions, r.BytesPerSec, r.Healthy, db.d.timeArg(r.LastSeen))
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
