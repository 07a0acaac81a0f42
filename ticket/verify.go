package ticket

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Verifier checks tickets for one Connection Server (or for a Host reading its own ticket).
type Verifier struct {
	// Keys holds the CM's ticket keys; nil refuses every ticket with ErrUnknownKey.
	Keys *KeySet
	// Audience is this CS id; "" means the audience is not checked.
	Audience string
	// Replay remembers used ticket ids; nil means no replay check (Host side). The CS always
	// sets one.
	Replay *ReplayCache
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Skew is the clock skew tolerated on NotBefore and Expiry; 0 means DefaultSkew, negative
	// means none.
	Skew time.Duration
}

// Verify checks raw and returns its claims. want is the role the caller admits; "" admits
// either role (the CS, which pairs one of each). The checks run in this order, and the first
// failure is returned wrapping its sentinel: parse (ErrMalformed), key (ErrUnknownKey),
// signature (ErrBadSignature), role (ErrWrongRole), audience (ErrWrongAudience), time
// (ErrNotYetValid, ErrExpired, or ErrMalformed for a lifetime above MaxLifetime plus skew), and
// only then replay (ErrReplayed, also for a ticket valid before Replay.KnownSince), so a forged
// or stale ticket never consumes a real id.
func (v *Verifier) Verify(raw string, want access.Role) (*Claims, error) {
	return v.VerifyWith(raw, want, nil)
}

// VerifyWith is Verify with the caller's own check of the verified claims, run after the time
// checks and before replay: a ticket that admit refuses is not consumed, so that its holder
// may present it again in a form admit accepts. admit's error is returned as it is; nil admit
// admits every ticket.
func (v *Verifier) VerifyWith(raw string, want access.Role, admit func(*Claims) error) (*Claims, error) {
	p, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(p); err != nil {
		return nil, err
	}
	c := p.claims
	if want != "" && c.Role != want {
		return nil, fmt.Errorf("ticket: %w: ticket is for %q, want %q", access.ErrWrongRole, c.Role, want)
	}
	if v.Audience != "" && c.Audience != v.Audience {
		return nil, fmt.Errorf("ticket: %w: ticket is for %q, this is %q", access.ErrWrongAudience, truncate(c.Audience), v.Audience)
	}
	now, skew := v.now(), v.skew()
	if err := checkTime(c, now, skew); err != nil {
		return nil, err
	}
	if admit != nil {
		if err := admit(c); err != nil {
			return nil, err
		}
	}
	if v.Replay != nil {
		if start := c.validFrom(); v.Replay.admitsUnseen(start, skew) {
			return nil, fmt.Errorf("ticket: %w: valid from %s, before this verifier began to remember used tickets (%s)",
				access.ErrReplayed, start.Format(time.RFC3339), v.Replay.KnownSince.UTC().Format(time.RFC3339))
		}
		// Remember the id as long as Verify would still accept the ticket.
		if err := v.Replay.Use(c.ID, c.Expiry.Add(skew), now); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// checkSignature finds the ticket's key and verifies the signature with it.
func (v *Verifier) checkSignature(p *parsed) error {
	pub, ok := v.Keys.Lookup(p.kid)
	if !ok {
		return fmt.Errorf("ticket: %w: key id %q", access.ErrUnknownKey, p.kid)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("ticket: %w: key id %q has a %d-byte key", access.ErrUnknownKey, p.kid, len(pub))
	}
	if !ed25519.Verify(pub, signingInput(p.head), p.sig) {
		return fmt.Errorf("ticket: %w: key id %q", access.ErrBadSignature, p.kid)
	}
	return nil
}

// checkTime refuses claims outside their validity window at now, allowing skew either way.
func checkTime(c *Claims, now time.Time, skew time.Duration) error {
	if life := c.lifetime(); life > MaxLifetime+skew {
		return fmt.Errorf("ticket: %w: lifetime %s exceeds MaxLifetime %s", access.ErrMalformed, life, MaxLifetime)
	}
	start := c.validFrom()
	if now.Add(skew).Before(start) {
		return fmt.Errorf("ticket: %w: valid from %s, now %s", access.ErrNotYetValid, start.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Add(-skew).Before(c.Expiry) {
		return fmt.Errorf("ticket: %w: expired at %s, now %s", access.ErrExpired, c.Expiry.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) skew() time.Duration {
	switch {
	case v.Skew < 0:
		return 0
	case v.Skew == 0:
		return DefaultSkew
	}
	return v.Skew
}
