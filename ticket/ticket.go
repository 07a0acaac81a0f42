package ticket

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Ticket wire format
//
// A ticket is one printable ASCII string of four dot-separated fields:
//
//	v1.<kid>.<payload>.<signature>
//
//	"v1"        2B   format version; anything else is refused as malformed
//	<kid>       1-64B key id in clear, [A-Za-z0-9_-], so the verifier picks the key (KeySet)
//	<payload>   base64url, no padding, of the JSON claims object (Claims; times as unix seconds)
//	<signature> 86B  base64url, no padding, of the 64B Ed25519 signature
//
// The signature covers the domain-separation prefix followed by the ticket's first three
// fields exactly as sent:
//
//	"portcullis-ticket\n" + "v1." + kid + "." + payload
//
// so the key id and the version are authenticated too, and a ticket key signature can never
// be mistaken for a signature over anything else. Base64 decoding is strict (canonical
// encoding only) and Ed25519 verification rejects non-canonical signatures, so a ticket has
// exactly one accepted spelling. The whole ticket is at most MaxTicketBytes.
//
// Ticket flow:
//
//   - the CM mints two tickets for one session id ("sid"), one per role ("guest", "host"),
//     with audience ("aud") = the chosen Connection Server's id and a lifetime of at most
//     MaxLifetime;
//   - the Guest and the Host each present theirs to that Connection Server, which verifies
//     version, key, signature, role, audience and time, and only then records the ticket id
//     ("jti") in its ReplayCache until the ticket expires;
//   - the Host also verifies its own ticket (no replay cache) to learn the session's claims.
const (
	// Version is the ticket format version, the first field of every ticket.
	Version = "v1"
	// MaxLifetime is the longest a ticket may be valid (Expiry - IssuedAt).
	MaxLifetime = 60 * time.Second
	// DefaultSkew is the clock skew a Verifier tolerates when Verifier.Skew is zero.
	DefaultSkew = 5 * time.Second
	// MaxTicketBytes bounds the length of a ticket string, in bytes.
	MaxTicketBytes = 8 << 10
	// MaxKeyIDBytes bounds the length of a key id, in bytes.
	MaxKeyIDBytes = 64

	signaturePrefix = "portcullis-ticket\n"
	fieldSep        = "."
)

// b64 returns the one base64 encoding of the wire format: URL alphabet, no padding, canonical
// only.
func b64() *base64.Encoding { return base64.RawURLEncoding.Strict() }

// Claims are the signed contents of a ticket.
type Claims struct {
	// ID is the unique ticket id, remembered by the replay cache.
	ID string `json:"jti"`
	// SessionID names the session both halves belong to.
	SessionID string `json:"sid"`
	// Role says which half this ticket admits.
	Role access.Role `json:"role"`
	// Audience is the id of the Connection Server the ticket is for.
	Audience string `json:"aud"`
	// Subject is the user id (email) of the guest.
	Subject string `json:"sub"`
	// HostID is the id of the Host of the session.
	HostID string `json:"host"`
	// IssuedAt is when the ticket was minted (unix seconds on the wire).
	IssuedAt time.Time `json:"iat"`
	// NotBefore is when the ticket becomes valid (unix seconds on the wire).
	NotBefore time.Time `json:"nbf"`
	// Expiry is when the ticket stops being valid (unix seconds on the wire).
	Expiry time.Time `json:"exp"`
	// HostKeyFP is the SHA256 fingerprint (ssh.FingerprintSHA256) of the Host's SSH key.
	HostKeyFP string `json:"hkfp"`
	// GuestKeyFP is the SHA256 fingerprint of the Guest's per-connection public key.
	GuestKeyFP string `json:"gkfp"`
	// Obligations are the policy's conditions on the session.
	Obligations access.Obligations `json:"obl"`
	// DecisionID names the decision record that allowed the session.
	DecisionID string `json:"did"`
}

// wireClaims is Claims as encoded in a ticket: times are unix seconds, 0 for the zero time.
type wireClaims struct {
	ID          string             `json:"jti"`
	SessionID   string             `json:"sid"`
	Role        access.Role        `json:"role"`
	Audience    string             `json:"aud"`
	Subject     string             `json:"sub,omitempty"`
	HostID      string             `json:"host"`
	IssuedAt    int64              `json:"iat"`
	NotBefore   int64              `json:"nbf"`
	Expiry      int64              `json:"exp"`
	HostKeyFP   string             `json:"hkfp,omitempty"`
	GuestKeyFP  string             `json:"gkfp,omitempty"`
	Obligations access.Obligations `json:"obl"`
	DecisionID  string             `json:"did,omitempty"`
}

// MarshalJSON encodes the claims with times as unix seconds.
func (c Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireClaims{
		ID: c.ID, SessionID: c.SessionID, Role: c.Role, Audience: c.Audience,
		Subject: c.Subject, HostID: c.HostID,
		IssuedAt: unixSeconds(c.IssuedAt), NotBefore: unixSeconds(c.NotBefore), Expiry: unixSeconds(c.Expiry),
		HostKeyFP: c.HostKeyFP, GuestKeyFP: c.GuestKeyFP, Obligations: c.Obligations, DecisionID: c.DecisionID,
	})
}

// UnmarshalJSON decodes claims whose times are unix seconds.
func (c *Claims) UnmarshalJSON(data []byte) error {
	var w wireClaims
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*c = Claims{
		ID: w.ID, SessionID: w.SessionID, Role: w.Role, Audience: w.Audience,
		Subject: w.Subject, HostID: w.HostID,
		IssuedAt: fromUnixSeconds(w.IssuedAt), NotBefore: fromUnixSeconds(w.NotBefore), Expiry: fromUnixSeconds(w.Expiry),
		HostKeyFP: w.HostKeyFP, GuestKeyFP: w.GuestKeyFP, Obligations: w.Obligations, DecisionID: w.DecisionID,
	}
	return nil
}

func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnixSeconds(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// checkFields reports the claims a ticket cannot be without, wrapped in ErrMalformed.
func (c *Claims) checkFields() error {
	var missing []string
	for _, f := range []struct {
		name    string
		present bool
	}{
		{"jti", c.ID != ""},
		{"sid", c.SessionID != ""},
		{"aud", c.Audience != ""},
		{"host", c.HostID != ""},
		{"iat", !c.IssuedAt.IsZero()},
		{"nbf", !c.NotBefore.IsZero()},
		{"exp", !c.Expiry.IsZero()},
	} {
		if !f.present {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("ticket: %w: missing %s", access.ErrMalformed, strings.Join(missing, ", "))
	}
	if !c.Role.Valid() {
		return fmt.Errorf("ticket: %w: unknown role %q", access.ErrMalformed, c.Role)
	}
	return nil
}

// validFrom is when the claims become valid: the later of IssuedAt and NotBefore.
func (c *Claims) validFrom() time.Time {
	if c.IssuedAt.After(c.NotBefore) {
		return c.IssuedAt
	}
	return c.NotBefore
}

// lifetime is how long the claims are valid, from the earlier of IssuedAt and NotBefore.
func (c *Claims) lifetime() time.Duration {
	start := c.IssuedAt
	if c.NotBefore.Before(start) {
		start = c.NotBefore
	}
	return c.Expiry.Sub(start)
}

// validKeyID reports whether kid may appear in the clear field of a ticket.
func validKeyID(kid string) bool {
	if kid == "" || len(kid) > MaxKeyIDBytes {
		return false
	}
	for i := 0; i < len(kid); i++ {
		ch := kid[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_'
		if !ok {
			return false
		}
	}
	return true
}

// signingInput is the message the signature covers for a ticket's first three fields.
func signingInput(head string) []byte {
	return []byte(signaturePrefix + head)
}

// encode assembles a ticket from its key id, claims and a signing function.
func encode(kid string, c *Claims, sign func(msg []byte) []byte) (string, error) {
	payload, err := c.MarshalJSON() // not json.Marshal, which would compact the result again
	if err != nil {
		return "", fmt.Errorf("ticket: encode claims: %w", err)
	}
	head := Version + fieldSep + kid + fieldSep + b64().EncodeToString(payload)
	raw := head + fieldSep + b64().EncodeToString(sign(signingInput(head)))
	if len(raw) > MaxTicketBytes {
		return "", fmt.Errorf("ticket: %w: ticket is %d bytes, limit %d", access.ErrMalformed, len(raw), MaxTicketBytes)
	}
	return raw, nil
}

// parsed is a decoded, not yet verified ticket.
type parsed struct {
	kid    string
	claims *Claims
	head   string // "v1.<kid>.<payload>", the signed part
	sig    []byte
}

// Parse decodes a ticket without verifying it (used by fuzzing and by clients to read their own
// ticket's session id). Every error wraps ErrMalformed.
func Parse(raw string) (kid string, c *Claims, err error) {
	p, err := parse(raw)
	if err != nil {
		return "", nil, err
	}
	return p.kid, p.claims, nil
}

func parse(raw string) (*parsed, error) {
	if len(raw) > MaxTicketBytes {
		return nil, fmt.Errorf("ticket: %w: ticket is %d bytes, limit %d", access.ErrMalformed, len(raw), MaxTicketBytes)
	}
	fields := strings.Split(raw, fieldSep)
	if len(fields) != 4 {
		return nil, fmt.Errorf("ticket: %w: want 4 dot-separated fields, got %d", access.ErrMalformed, len(fields))
	}
	if fields[0] != Version {
		return nil, fmt.Errorf("ticket: %w: unsupported version %q", access.ErrMalformed, truncate(fields[0]))
	}
	if !validKeyID(fields[1]) {
		return nil, fmt.Errorf("ticket: %w: invalid key id %q", access.ErrMalformed, truncate(fields[1]))
	}
	payload, err := b64().DecodeString(fields[2])
	if err != nil {
		return nil, fmt.Errorf("ticket: %w: payload: %v", access.ErrMalformed, err)
	}
	sig, err := b64().DecodeString(fields[3])
	if err != nil {
		return nil, fmt.Errorf("ticket: %w: signature: %v", access.ErrMalformed, err)
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	head := raw[:len(raw)-len(fields[3])-len(fieldSep)]
	return &parsed{kid: fields[1], claims: c, head: head, sig: sig}, nil
}

// decodeClaims decodes exactly one JSON object of claims and checks the required fields.
func decodeClaims(payload []byte) (*Claims, error) {
	c := new(Claims)
	if err := json.Unmarshal(payload, c); err != nil {
		return nil, fmt.Errorf("ticket: %w: claims: %v", access.ErrMalformed, err)
	}
	if err := c.checkFields(); err != nil {
		return nil, err
	}
	return c, nil
}

// maxQuotedBytes bounds how much of an attacker-chosen field an error message repeats.
const maxQuotedBytes = 32

func truncate(s string) string {
	if len(s) > maxQuotedBytes {
		return s[:maxQuotedBytes] + "..."
	}
	return s
}
