package identity

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keyIssuer is a tiny OpenID provider for crafting tokens: it serves
// discovery and a JWKS with one published RSA key, and signs any claims
// with that key or with an unpublished one.
type keyIssuer struct {
	srv       *httptest.Server
	issuer    string
	published *rsa.PrivateKey
	stranger  *rsa.PrivateKey // never published
	online    atomic.Bool     // false: every path answers 404, as before the IdP is mounted
}

const (
	publishedKid = "published-1"
	strangerKid  = "stranger-1"
	testClientID = "portcullis"
)

func newKeyIssuer(t testing.TB) *keyIssuer {
	t.Helper()
	ki := &keyIssuer{published: rsaKey(t), stranger: rsaKey(t)}
	ki.online.Store(true)
	mux := http.NewServeMux()
	ki.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ki.online.Load() {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	ki.issuer = "https://" + ki.srv.Listener.Addr().String() + "/tiny"
	mux.HandleFunc("GET /tiny/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                ki.issuer,
			"jwks_uri":                              ki.issuer + "/keys",
			"authorization_endpoint":                ki.issuer + "/authorize",
			"token_endpoint":                        ki.issuer + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /tiny/keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &ki.published.PublicKey, KeyID: publishedKid, Algorithm: "RS256", Use: "sig"}}})
	})
	ki.srv.StartTLS()
	t.Cleanup(ki.srv.Close)
	return ki
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// config returns a verifier configuration for this issuer.
func (ki *keyIssuer) config() Config {
	return Config{Issuer: ki.issuer, ClientID: testClientID, HTTPClient: ki.srv.Client()}
}

// claims returns alice's valid claims, changed by edits (a nil value deletes the claim).
func (ki *keyIssuer) claims(edits map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":            ki.issuer,
		"sub":            "u-alice",
		"aud":            testClientID,
		"exp":            now.Add(time.Hour).Unix(),
		"iat":            now.Unix(),
		"auth_time":      now.Add(-time.Minute).Unix(),
		"email":          "alice@example.com",
		"email_verified": true,
		"name":           "Alice",
		"groups":         []string{"ops"},
		"amr":            []string{"pwd", "otp", "mfa"},
	}
	maps.Copy(c, edits)
	for k, v := range c {
		if v == nil {
			delete(c, k)
		}
	}
	return c
}

// sign signs claims with key under key id kid (RS256, typ JWT).
func sign(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// token signs alice's claims, changed by edits, with the published key.
func (ki *keyIssuer) token(t testing.TB, edits map[string]any) string {
	return sign(t, ki.published, publishedKid, ki.claims(edits))
}
