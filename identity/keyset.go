package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// The provider's signing keys. go-oidc's RemoteKeySet fetches the JWKS again whenever a
// signature fails against the cached keys, with no limit: anyone can make the CM hammer the
// identity provider with forged tokens, before authenticating, until the provider throttles
// the CM and rotated keys stop verifying for everyone. keySet fetches only when a token names
// a key id it does not hold (or names none and no cached key verifies it), at most once per
// Config.JWKSRefetchInterval; callers arriving during a fetch share it; a failed fetch keeps
// the keys it had; a known key id whose signature fails is refused without a fetch.
const (
	// DefaultJWKSRefetchInterval is the least time between two JWKS fetches when
	// Config.JWKSRefetchInterval is zero.
	DefaultJWKSRefetchInterval = 10 * time.Second
	// maxJWKSBytes bounds the JWKS document read from the provider (1 MiB).
	maxJWKSBytes = 1 << 20
	// jwksFetchTimeout bounds one JWKS fetch, which outlives the caller that started it.
	jwksFetchTimeout = DiscoveryTimeout
)

// errUnknownKey is returned when no held key verifies a token and the JWKS was fetched too
// recently to be fetched again.
var errUnknownKey = errors.New("no key the provider published at the last fetch verifies it")

// keySet verifies JWS signatures with a provider's JWKS, fetched lazily and rate-limited.
// It implements oidc.KeySet and is safe for concurrent use.
type keySet struct {
	url      string
	client   *http.Client
	interval time.Duration
	logger   *slog.Logger
	now      func() time.Time // the clock of the rate limit

	mu        sync.Mutex
	keys      []jose.JSONWebKey // from the last successful fetch
	lastFetch time.Time         // start of the last fetch, successful or not; zero before the first
	inflight  *jwksFetch        // the fetch running now, nil when none
}

var _ oidc.KeySet = (*keySet)(nil)

// jwksFetch is one fetch shared by every caller that waits for it.
type jwksFetch struct {
	done chan struct{} // closed when the fetch ended and keys is set
	err  error
}

// newKeySet returns a key set for the JWKS at url, fetched with client at most once per interval.
func newKeySet(url string, client *http.Client, interval time.Duration, logger *slog.Logger) *keySet {
	return &keySet{url: url, client: client, interval: interval, logger: logger, now: time.Now}
}

// VerifySignature parses the compact JWS jwt, verifies its signature and returns its payload.
// It accepts any algorithm go-jose knows: Verify checks the algorithm before calling verify.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
		jose.PS256, jose.PS384, jose.PS512, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("identity: malformed JWS: %w", err)
	}
	return k.verify(ctx, jws)
}

// verify checks the single signature of jws with the held keys, fetching the JWKS again only
// for a key id it does not hold (or no key id), and only if the last fetch is at least
// interval old.
func (k *keySet) verify(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("identity: %d signatures, want 1", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID
	payload, known, err := verifyWith(k.held(), jws, kid)
	if err == nil || known {
		return payload, err // a known key id whose signature fails fetches nothing
	}
	keys, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	payload, _, err = verifyWith(keys, jws, kid)
	return payload, err
}

// verifyWith verifies jws with the keys named kid (every key when kid is ""); known reports
// whether kid is a key id among keys.
func verifyWith(keys []jose.JSONWebKey, jws *jose.JSONWebSignature, kid string) (payload []byte, known bool, err error) {
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		known = kid != ""
		if payload, err := jws.Verify(&key); err == nil {
			return payload, known, nil
		}
	}
	if known {
		return nil, true, fmt.Errorf("identity: the signature does not verify with the published key %q", kid)
	}
	return nil, false, errUnknownKey
}

// held returns the keys of the last successful fetch; shared, never changed.
func (k *keySet) held() []jose.JSONWebKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys
}

// refresh fetches the JWKS, or waits for the fetch in flight, and returns the keys held after
// it. When the last fetch started less than interval ago it fetches nothing and returns
// errUnknownKey. A failed fetch keeps the held keys and counts against the interval too.
func (k *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	f := k.inflight
	if f == nil {
		now := k.now()
		if !k.lastFetch.IsZero() && now.Sub(k.lastFetch) < k.interval {
			k.mu.Unlock()
			return nil, fmt.Errorf("%w (JWKS fetched %s ago; the least interval is %s)",
				errUnknownKey, now.Sub(k.lastFetch).Round(time.Millisecond), k.interval)
		}
		k.lastFetch = now
		f = &jwksFetch{done: make(chan struct{})}
		k.inflight = f
		// The fetch is shared: it must not end when the caller that started it gives up.
		go k.fetch(context.WithoutCancel(ctx), f)
	}
	k.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("identity: waiting for the provider's keys: %w", ctx.Err())
	case <-f.done:
	}
	if f.err != nil {
		return nil, f.err
	}
	return k.held(), nil
}

// fetch runs f: it gets the JWKS, replaces the held keys when that succeeded, and ends f.
func (k *keySet) fetch(ctx context.Context, f *jwksFetch) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	keys, err := k.get(ctx)
	k.mu.Lock()
	if err == nil {
		k.keys = keys
	}
	k.inflight = nil
	f.err = err
	k.mu.Unlock()
	close(f.done)
	if err != nil {
		k.logger.WarnContext(ctx, "fetching the identity provider's keys failed; keeping the keys held",
			"jwks_uri", k.url, "err", err)
		return
	}
	k.logger.DebugContext(ctx, "fetched the identity provider's keys", "jwks_uri", k.url, "keys", len(keys))
}

// get fetches and decodes the JWKS. Keys of a type or algorithm go-jose does not know, private
// keys and keys not for signatures are skipped, as RFC 7517 §5 asks.
func (k *keySet) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("identity: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("identity: fetching the JWKS: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("identity: reading the JWKS: %w", err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("identity: fetching the JWKS: %s", resp.Status)
	case len(body) > maxJWKSBytes:
		return nil, fmt.Errorf("identity: the JWKS is larger than %d bytes", maxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("identity: decoding the JWKS: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(doc.Keys))
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil || !key.IsPublic() || !key.Valid() || (key.Use != "" && key.Use != "sig") {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}
