package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Verified signatures. A signed-in Guest sends the same ID token with every request; its
// signature is checked once and its claims remembered, decoded, by the token's hash, for
// verifiedTokenTTL, so that the next requests skip parsing it, the public-key verification and
// decoding its claims from JSON. The claims (issuer, audience, expiry, …) are still checked on
// every Verify; the remembered claims are shared by those Verify calls and never changed.
// The short lifetime bounds how long a token signed by a key the provider has since withdrawn
// keeps verifying.
const (
	// verifiedTokenTTL is how long a verified signature is remembered.
	verifiedTokenTTL = time.Minute
	// maxVerifiedTokens bounds the signatures remembered.
	maxVerifiedTokens = 4096
)

// verifiedTokens remembers the decoded claims of tokens whose signature verified.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	claims map[string]any
	until  time.Time
}

// get returns the claims of the token whose hash is sum, if its signature verified less than
// verifiedTokenTTL before now; they are shared and must not be changed.
func (vt *verifiedTokens) get(sum [sha256.Size]byte, now time.Time) (map[string]any, bool) {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	e, ok := vt.m[sum]
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.claims, true
}

// put remembers the decoded claims of a token whose signature verified at now; when full, it
// forgets the lapsed entries first, and every entry when none lapsed.
func (vt *verifiedTokens) put(sum [sha256.Size]byte, claims map[string]any, now time.Time) {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	if vt.m == nil {
		vt.m = map[[sha256.Size]byte]verifiedToken{}
	}
	if len(vt.m) >= maxVerifiedTokens {
		for k, e := range vt.m {
			if !now.Before(e.until) {
				delete(vt.m, k)
			}
		}
		if len(vt.m) >= maxVerifiedTokens {
			clear(vt.m)
		}
	}
	vt.m[sum] = verifiedToken{claims: claims, until: now.Add(verifiedTokenTTL)}
}
