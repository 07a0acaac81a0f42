package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// EnrollmentToken lets one Host enrol once; the store keeps only the secret's hash.
type EnrollmentToken struct {
	// ID names the token (not secret).
	ID string
	// Hash is the SHA-256 of the secret the Host presents.
	Hash []byte
	// Tags are given to the Host that enrols with the token.
	Tags map[string]string
	// Tenant is given to the Host that enrols with the token.
	Tenant string
	// CreatedBy is the admin who created the token.
	CreatedBy string
	// CreatedAt is when the token was created; zero means now.
	CreatedAt time.Time
	// ExpiresAt is the first instant the token is no longer valid.
	ExpiresAt time.Time
	// UsedAt is when the token was consumed; nil while unused.
	UsedAt *time.Time
	// UsedBy names who consumed the token (the enrolled host's or relay's id).
	UsedBy string
	// Kind is what enrols with the token: TokenKindHost (the default) or TokenKindRelay.
	Kind string
}

// Kinds of enrollment token.
const (
	// TokenKindHost tokens enrol Hosts.
	TokenKindHost = "host"
	// TokenKindRelay tokens enrol a tenant's private Connection Servers.
	TokenKindRelay = "relay"
)

// Host is an enrolled device.
type Host struct {
	// ID is the host's stable id.
	ID string
	// Name is unique among hosts.
	Name string
	// Tenant owns the host.
	Tenant string
	// OS is the host's operating system as reported at enrollment.
	OS string
	// Tags are matched by policy (e.g. env=prod).
	Tags map[string]string
	// PublicKey is the host's SSH public key in authorized_keys form.
	PublicKey []byte
	// CertSerial is the serial of the host's client certificate.
	CertSerial string
	// Disabled hosts are refused.
	Disabled bool
	// EnrolledAt is when the host enrolled.
	EnrolledAt time.Time
	// LastSeen is the host's last heartbeat; zero if never seen.
	LastSeen time.Time
	// RelayLatencies is the host's latest measured latency to each relay, in milliseconds, by
	// relay id; nil if never reported.
	RelayLatencies map[string]int64
}

// HostSeen is a sign of life from a host, for TouchHosts.
type HostSeen struct {
	// At is when the host was seen.
	At time.Time
	// RelayLatencies replaces the host's stored latencies when not nil.
	RelayLatencies map[string]int64
}

// tokenColumns lists enrollment_tokens' columns in scanToken's order.
const tokenColumns = "id, hash, tags, tenant, created_by, created_at, expires_at, used_at, used_by, kind"

// hostColumns lists hosts' columns in scanHost's order.
const hostColumns = "id, name, tenant, os, tags, public_key, cert_serial, disabled, enrolled_at, last_seen, relay_latencies"

// scanToken reads one enrollment_tokens row.
func scanToken(r rowScanner) (EnrollmentToken, error) {
	var t EnrollmentToken
	var tags string
	err := r.Scan(&t.ID, &t.Hash, &tags, &t.Tenant, &t.CreatedBy,
		scanTime(&t.CreatedAt), scanTime(&t.ExpiresAt), scanNullTime(&t.UsedAt), &t.UsedBy, &t.Kind)
	if err != nil {
		return t, err
	}
	t.Tags, err = decodeMap(tags)
	return t, err
}

// scanHost reads one hosts row.
func scanHost(r rowScanner) (Host, error) {
	var h Host
	var tags string
	var lat sql.NullString
	err := r.Scan(&h.ID, &h.Name, &h.Tenant, &h.OS, &tags, &h.PublicKey, &h.CertSerial,
		&h.Disabled, scanTime(&h.EnrolledAt), scanTime(&h.LastSeen), &lat)
	if err != nil {
		return h, err
	}
	if h.Tags, err = decodeMap(tags); err != nil {
		return h, err
	}
	if lat.Valid && lat.String != "" {
		if err := json.Unmarshal([]byte(lat.String), &h.RelayLatencies); err != nil {
			return h, fmt.Errorf("host %s relay latencies: %w", h.ID, err)
		}
	}
	return h, nil
}

// CreateEnrollmentToken stores a new, unused token. ErrConflict if its id or hash exists.
func (db *DB) CreateEnrollmentToken(ctx context.Context, t EnrollmentToken) error {
	if err := db.createToken(ctx, t); err != nil {
		return fmt.Errorf("store: create enrollment token %q: %w", t.ID, err)
	}
	return nil
}

// createToken validates and inserts t.
func (db *DB) createToken(ctx context.Context, t EnrollmentToken) error {
	if err := requireID("token", t.ID); err != nil {
		return err
	}
	if len(t.Hash) == 0 || t.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: token needs a hash and an expiry", ErrInvalid)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	switch t.Kind {
	case "":
		t.Kind = TokenKindHost
	case TokenKindHost, TokenKindRelay:
	default:
		return fmt.Errorf("%w: token kind %q", ErrInvalid, t.Kind)
	}
	tags, err := encodeMap(t.Tags)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return db.insert(ctx, tx, "INSERT INTO enrollment_tokens ("+tokenColumns+
			") VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', $8)",
			t.ID, t.Hash, tags, t.Tenant, t.CreatedBy, db.d.timeArg(t.CreatedAt), db.d.timeArg(t.ExpiresAt), t.Kind)
	})
}

// ConsumeEnrollmentToken atomically marks the unused, unexpired token with this hash used by
// usedBy at now and returns it. ErrNotFound, ErrTokenUsed, ErrTokenExpired.
func (db *DB) ConsumeEnrollmentToken(ctx context.Context, hash []byte, usedBy string, now time.Time) (EnrollmentToken, error) {
	var tok EnrollmentToken
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		tok, err = db.consumeToken(ctx, tx, hash, "", usedBy, now)
		return err
	})
	if err != nil {
		return EnrollmentToken{}, fmt.Errorf("store: consume enrollment token: %w", err)
	}
	return tok, nil
}

// consumeToken marks the token used inside tx; a token of another kind than kind (unless
// kind is "") is ErrNotFound.
func (db *DB) consumeToken(ctx context.Context, tx *sql.Tx, hash []byte, kind, usedBy string, now time.Time) (EnrollmentToken, error) {
	tok, err := queryOne(ctx, tx, scanToken, "SELECT "+tokenColumns+" FROM enrollment_tokens WHERE hash = $1", hash)
	switch {
	case err != nil:
		return tok, err
	case kind != "" && tok.Kind != kind:
		return EnrollmentToken{}, ErrNotFound
	case tok.UsedAt != nil:
		return tok, ErrTokenUsed
	case !now.Before(tok.ExpiresAt):
		return tok, ErrTokenExpired
	}
	now = normTime(now)
	n, err := execCount(ctx, tx, "UPDATE enrollment_tokens SET used_at = $1, used_by = $2 WHERE id = $3 AND used_at IS NULL",
		db.d.timeArg(now), usedBy, tok.ID)
	if err != nil {
		return tok, err
	}
	if n == 0 {
		return tok, ErrTokenUsed
	}
	tok.UsedAt, tok.UsedBy = &now, usedBy
	return tok, nil
}

// EnrollHost consumes the token with this hash and creates the host in one transaction: if
// either fails, neither happens. The host gets the token's tenant and tags (the token, made by
// an admin, is authoritative, not the host), EnrolledAt = LastSeen = now, and a random id when
// h.ID is empty. ErrConflict on a duplicate name or id; the token errors of
// ConsumeEnrollmentToken.
func (db *DB) EnrollHost(ctx context.Context, hash []byte, h Host, now time.Time) (Host, error) {
	if h.Name == "" {
		return Host{}, fmt.Errorf("store: enroll host: %w: name is empty", ErrInvalid)
	}
	if h.ID == "" {
		h.ID = rand.Text()
	}
	h.EnrolledAt, h.LastSeen = normTime(now), normTime(now)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		tok, err := db.consumeToken(ctx, tx, hash, TokenKindHost, h.ID, now)
		if err != nil {
			return err
		}
		h.Tenant, h.Tags = tok.Tenant, tok.Tags
		return db.insertHost(ctx, tx, h)
	})
	if err != nil {
		return Host{}, fmt.Errorf("store: enroll host %q: %w", h.Name, err)
	}
	return h, nil
}

// insertHost inserts h inside tx.
func (db *DB) insertHost(ctx context.Context, tx *sql.Tx, h Host) error {
	tags, err := encodeMap(h.Tags)
	if err != nil {
		return err
	}
	return db.insert(ctx, tx, "INSERT INTO hosts ("+hostColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
		h.ID, h.Name, h.Tenant, h.OS, tags, h.PublicKey, h.CertSerial, h.Disabled,
		db.d.timeArg(h.EnrolledAt), db.d.timeArg(h.LastSeen))
}

// GetHost returns the host with this id; ErrNotFound.
func (db *DB) GetHost(ctx context.Context, id string) (Host, error) {
	h, err := queryOne(ctx, prepared{db}, scanHost, "SELECT "+hostColumns+" FROM hosts WHERE id = $1", id)
	if err != nil {
		return Host{}, fmt.Errorf("store: get host %q: %w", id, err)
	}
	return h, nil
}

// GetHostByName returns the host with this name; ErrNotFound.
func (db *DB) GetHostByName(ctx context.Context, name string) (Host, error) {
	h, err := queryOne(ctx, prepared{db}, scanHost, "SELECT "+hostColumns+" FROM hosts WHERE name = $1", name)
	if err != nil {
		return Host{}, fmt.Errorf("store: get host by name %q: %w", name, err)
	}
	return h, nil
}

// Page sizes of ListHosts.
const (
	// DefaultHostLimit is the page size when ListHosts is given no limit.
	DefaultHostLimit = 500
	// MaxHostLimit is the largest page ListHosts returns.
	MaxHostLimit = 1000
)

// ListHosts returns a page of hosts ordered by name, the page after the cursor after ("" for
// the first), of limit hosts (DefaultHostLimit when 0, at most MaxHostLimit), and the cursor of
// the next page ("" after the last). ErrInvalid for a cursor ListHosts did not make.
func (db *DB) ListHosts(ctx context.Context, after string, limit int) ([]Host, string, error) {
	w := &where{}
	if after != "" {
		_, name, err := decodeCursor(after)
		if err != nil {
			return nil, "", fmt.Errorf("store: list hosts: %w", err)
		}
		w.add("name > ?", name)
	}
	query := "SELECT " + hostColumns + " FROM hosts" + w.String() + " ORDER BY name"
	hs, next, err := queryPage(ctx, db.sql, scanHost, query, w.args, clampLimit(limit, DefaultHostLimit, MaxHostLimit), HostCursor)
	if err != nil {
		return nil, "", fmt.Errorf("store: list hosts: %w", err)
	}
	return hs, next, nil
}

// HostCursor is the cursor of the page of ListHosts that follows h.
func HostCursor(h Host) string { return encodeCursor(time.Time{}, h.Name) }

// TouchHosts records signs of life from many hosts in one transaction: each host's LastSeen
// moves forward to the given time (never back), and its relay latencies are replaced where
// given. Unknown ids are ignored (the host may just have been deleted).
func (db *DB) TouchHosts(ctx context.Context, seen map[string]HostSeen) error {
	if len(seen) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(seen)) // one lock order for every batch
	lats := make(map[string]any, len(seen))
	for id, hs := range seen {
		lats[id] = nil
		if hs.RelayLatencies != nil {
			b, err := json.Marshal(hs.RelayLatencies)
			if err != nil {
				return fmt.Errorf("store: touch host %s: %w", id, err)
			}
			lats[id] = string(b)
		}
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "UPDATE hosts SET last_seen = $1, relay_latencies = COALESCE($3, relay_latencies) "+
			"WHERE id = $2 AND (last_seen IS NULL OR last_seen <= $1)")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, db.d.timeArg(seen[id].At), id, lats[id]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: touch %d hosts: %w", len(seen), err)
	}
	return nil
}

// SetHostDisabled disables or re-enables a host; ErrNotFound.
func (db *DB) SetHostDisabled(ctx context.Context, id string, disabled bool) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "UPDATE hosts SET disabled = $1 WHERE id = $2", disabled, id)
	})
	if err != nil {
		return fmt.Errorf("store: set host %q disabled=%t: %w", id, disabled, err)
	}
	return nil
}

// DeleteHost removes a host; its sessions and decisions stay on record. ErrNotFound.
func (db *DB) DeleteHost(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "DELETE FROM hosts WHERE id = $1", id)
	})
	if err != nil {
		return fmt.Errorf("store: delete host %q: %w", id, err)
	}
	return nil
}
