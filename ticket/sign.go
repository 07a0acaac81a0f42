package ticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Signer mints tickets with one Ed25519 key. The CM holds it; the zero Now means time.Now.
type Signer struct {
	// KeyID names Key in the tickets it signs; see KeyID for the usual derivation.
	KeyID string
	// Key is the Ed25519 private key that signs tickets.
	Key ed25519.PrivateKey
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// NewID returns a fresh random ticket or session id (128 random bits, base32 text).
func NewID() string { return rand.Text() }

// Mint signs c and returns the ticket. It fills IssuedAt (now) and NotBefore (IssuedAt) when
// they are zero, truncates times to whole seconds (the wire precision), and refuses with
// ErrMalformed missing fields, an Expiry not after NotBefore, or a lifetime above MaxLifetime.
func (s *Signer) Mint(c Claims) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.now()
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = c.IssuedAt
	}
	c.IssuedAt = c.IssuedAt.Truncate(time.Second)
	c.NotBefore = c.NotBefore.Truncate(time.Second)
	c.Expiry = c.Expiry.Truncate(time.Second)
	if err := c.checkFields(); err != nil {
		return "", err
	}
	if !c.Expiry.After(c.NotBefore) {
		return "", fmt.Errorf("ticket: %w: expiry %s is not after not-before %s", access.ErrMalformed, c.Expiry, c.NotBefore)
	}
	if life := c.lifetime(); life > MaxLifetime {
		return "", fmt.Errorf("ticket: %w: lifetime %s exceeds MaxLifetime %s", access.ErrMalformed, life, MaxLifetime)
	}
	return encode(s.KeyID, &c, func(msg []byte) []byte { return ed25519.Sign(s.Key, msg) })
}

// check refuses a Signer that cannot produce a verifiable ticket.
func (s *Signer) check() error {
	if len(s.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("ticket: signer key has %d bytes, want %d", len(s.Key), ed25519.PrivateKeySize)
	}
	if !validKeyID(s.KeyID) {
		return fmt.Errorf("ticket: signer key id %q is not 1-%d characters of [A-Za-z0-9_-]", truncate(s.KeyID), MaxKeyIDBytes)
	}
	return nil
}

func (s *Signer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
