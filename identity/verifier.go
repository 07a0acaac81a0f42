package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/portcullis/portcullis/access"
)

// Verifier checks ID tokens of one identity provider for one client.
// It is safe for concurrent use.
type Verifier struct {
	cfg Config

	mu       sync.Mutex
	keys     *keySet                   // the provider's JWKS; nil until discovery succeeded
	algs     []jose.SignatureAlgorithm // signing algorithms the provider announced
	lastTry  time.Time                 // last failed discovery attempt made by Verify
	lastFail error

	// verified remembers the tokens whose signature verified (verified.go).
	verified verifiedTokens
}

// NewVerifier validates cfg and discovers the provider. When the provider
// cannot be reached yet, NewVerifier still returns a Verifier whose next
// Verify retries discovery; a provider that answers with another issuer is
// a configuration error and is returned.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg.withDefaults()}
	if err := v.discover(ctx); err != nil {
		if mismatch := new(oidc.IssuerMismatchError); errors.As(err, &mismatch) {
			return nil, err
		}
		v.cfg.Logger.WarnContext(ctx, "identity provider not reachable yet; Verify will retry discovery",
			"issuer", v.cfg.Issuer, "err", err)
	}
	return v, nil
}

// Issuer returns the configured issuer URL.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// discover fetches the provider's metadata and sets up its key set.
// The caller must not hold v.mu.
func (v *Verifier) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.cfg.HTTPClient), v.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("%w: discovery of %s: %w", access.ErrProviderUnavailable, v.cfg.Issuer, err)
	}
	var meta struct {
		JWKS string   `json:"jwks_uri"`
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return fmt.Errorf("%w: discovery document of %s has no usable jwks_uri (%v)", access.ErrProviderUnavailable, v.cfg.Issuer, err)
	}
	algs := signingAlgs(meta.Algs)
	// keySet checks signatures against the provider's JWKS, fetching it again when a token
	// names an unknown key id, so that keys rotated in later verify without a restart, but at
	// most once per JWKSRefetchInterval (keyset.go). Its requests use the configured client.
	keys := newKeySet(meta.JWKS, v.cfg.HTTPClient, v.cfg.JWKSRefetchInterval, v.cfg.Logger)
	v.mu.Lock()
	v.keys, v.algs = keys, algs
	v.mu.Unlock()
	v.cfg.Logger.InfoContext(ctx, "identity provider discovered", "issuer", v.cfg.Issuer, "jwks_uri", meta.JWKS, "algs", algs)
	return nil
}

// signingAlgs keeps the announced algorithms go-jose knows; RS256 when none.
func signingAlgs(announced []string) []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range announced {
		switch alg := jose.SignatureAlgorithm(a); alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
			jose.PS256, jose.PS384, jose.PS512, jose.EdDSA:
			out = append(out, alg)
		}
	}
	if len(out) == 0 {
		out = []jose.SignatureAlgorithm{jose.RS256}
	}
	return out
}

// ready returns the provider's key set and algorithms, retrying discovery at most once per
// DiscoveryRetryInterval while the provider is unreachable.
func (v *Verifier) ready(ctx context.Context) (*keySet, []jose.SignatureAlgorithm, error) {
	v.mu.Lock()
	if v.keys != nil {
		defer v.mu.Unlock()
		return v.keys, v.algs, nil
	}
	if !v.lastTry.IsZero() && time.Since(v.lastTry) < DiscoveryRetryInterval {
		defer v.mu.Unlock()
		return nil, nil, fmt.Errorf("%w (retrying every %s): %w", access.ErrProviderUnavailable, DiscoveryRetryInterval, v.lastFail)
	}
	v.lastTry = time.Now()
	v.mu.Unlock()

	if err := v.discover(ctx); err != nil {
		v.mu.Lock()
		v.lastFail = err
		v.mu.Unlock()
		return nil, nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keys, v.algs, nil
}

// verifiedClaims checks the form and signature of rawIDToken, or finds them checked a moment
// ago (verified.go), and returns the token's claims decoded from JSON: shared with the other
// Verify calls of the same token, they must not be changed.
func (v *Verifier) verifiedClaims(ctx context.Context, keys *keySet, algs []jose.SignatureAlgorithm, rawIDToken string) (map[string]any, error) {
	sum, now := sha256.Sum256([]byte(rawIDToken)), time.Now()
	if claims, ok := v.verified.get(sum, now); ok {
		return claims, nil // this very string passed checkCompact and the signature check
	}
	// Only the canonical compact spelling, before go-jose accepts many (compact.go).
	if err := checkCompact(rawIDToken); err != nil {
		return nil, err
	}
	jws, err := jose.ParseSigned(rawIDToken, algs)
	if err != nil {
		return nil, refuse(access.ErrMalformed, "not a compact JWS signed with %v: %v", algs, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse(access.ErrMalformed, "token has %d signatures, want 1", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID
	payload, err := keys.verify(ctx, jws)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("identity: verify: %w", ctxErr)
		}
		return nil, refuse(access.ErrBadSignature, "no key the provider publishes verifies it (key id %q): %v", kid, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, refuse(access.ErrMalformed, "claims are not a JSON object: %v", err)
	}
	if claims == nil {
		return nil, refuse(access.ErrMalformed, "claims are null, not a JSON object")
	}
	v.verified.put(sum, claims, now)
	return claims, nil
}

// Verify checks rawIDToken and maps its claims. A refusal wraps ErrInvalidToken and a reason
// sentinel; an unreachable provider yields ErrProviderUnavailable. Checks run in this order:
// size and canonical compact form (compact.go), signature (remembered for a moment: verified.go), issuer, audience and azp,
// exp, nbf and iat, sub, email_verified, the user claim, the groups claim.
func (v *Verifier) Verify(ctx context.Context, rawIDToken string) (Claims, error) {
	if len(rawIDToken) > MaxTokenBytes {
		return Claims{}, refuse(access.ErrMalformed, "token is %d bytes, the limit is %d", len(rawIDToken), MaxTokenBytes)
	}
	keys, algs, err := v.ready(ctx)
	if err != nil {
		return Claims{}, err
	}
	raw, err := v.verifiedClaims(ctx, keys, algs, rawIDToken)
	if err != nil {
		return Claims{}, err
	}
	c, err := mapClaims(raw, v.cfg, v.cfg.Now())
	if err != nil {
		v.cfg.Logger.DebugContext(ctx, "ID token refused", "code", access.CodeOf(err), "err", err)
		return Claims{}, err
	}
	return c, nil
}
