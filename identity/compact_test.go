package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/portcullis/portcullis/access"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// spareBits sets the spare low bits of seg's last base64url character, which a lenient decoder
// ignores: the same bytes, another spelling. It fails the test when seg has no spare bits.
func spareBits(t *testing.T, seg string) string {
	t.Helper()
	if len(seg)%4 == 0 {
		t.Fatalf("segment of %d characters has no spare bits", len(seg))
	}
	last := strings.IndexByte(b64url, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64url[last|1])
}

// respelling is another spelling of a compact token.
type respelling struct {
	raw string
	// lenient: go-jose's ParseSigned accepts it and the signature verifies.
	lenient bool
}

// respellings returns spellings of the compact token raw other than its own.
func respellings(t *testing.T, raw string) map[string]respelling {
	t.Helper()
	p := strings.Split(raw, ".")
	flat, _ := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
	general, _ := json.Marshal(map[string]any{"payload": p[1], "signatures": []map[string]string{{"protected": p[0], "signature": p[2]}}})
	return map[string]respelling{
		"a space after a dot":          {p[0] + ". " + p[1] + "." + p[2], true},
		"a space inside a segment":     {p[0][:5] + " " + p[0][5:] + "." + p[1] + "." + p[2], true},
		"a leading space":              {" " + raw, true},
		"a trailing newline":           {raw + "\n", true},
		"a tab":                        {p[0] + "\t." + p[1] + "." + p[2], true},
		"CR LF inside the payload":     {p[0] + "." + p[1][:7] + "\r\n" + p[1][7:] + "." + p[2], true},
		"flattened JSON serialization": {string(flat), true},
		"general JSON serialization":   {string(general), true},
		"spare bits in the signature":  {p[0] + "." + p[1] + "." + spareBits(t, p[2]), true},
		"padding on the signature":     {raw + "==", false},
		"standard base64 alphabet":     {strings.NewReplacer("-", "+", "_", "/").Replace(raw), false},
		"a fourth segment":             {raw + ".", false},
	}
}

func TestVerifyRefusesEveryOtherSpellingOfAValidToken(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	v, err := NewVerifier(t.Context(), ki.config())
	if err != nil {
		t.Fatal(err)
	}
	raw := ki.token(t, nil)
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("the canonical token: %v", err)
	}
	for name, r := range respellings(t, raw) {
		t.Run(name, func(t *testing.T) {
			variant := r.raw
			if r.lenient { // the attack: go-jose alone takes this string for the token
				jws, err := jose.ParseSigned(variant, []jose.SignatureAlgorithm{jose.RS256})
				if err != nil {
					t.Fatalf("go-jose refuses %q (%v): not a respelling it accepts", variant, err)
				}
				if _, err := jws.Verify(&ki.published.PublicKey); err != nil {
					t.Fatalf("go-jose: %v", err)
				}
			}
			_, err := v.Verify(t.Context(), variant)
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, access.ErrMalformed) || !strings.Contains(err.Error(), "compact JWS") {
				t.Fatalf("Verify(%q) = %v, want a malformed refusal naming the compact form", variant, err)
			}
			if _, err := ReplayKey(variant); !errors.Is(err, access.ErrMalformed) {
				t.Fatalf("ReplayKey = %v, want a malformed refusal", err)
			}
		})
	}
}

// ecdsaTwin returns raw, an ES256 token, with its signature (r, s) replaced by (r, n−s), which
// verifies as well: ECDSA signatures are malleable.
func ecdsaTwin(t *testing.T, raw string) string {
	t.Helper()
	p := strings.Split(raw, ".")
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature: %d bytes, %v", len(sig), err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	twin := append(sig[:32:32], s.FillBytes(make([]byte, 32))...)
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(twin)
}

func TestReplayKeyIsTheSameForEverySignatureOfOneHeaderAndPayload(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	signES256 := func(payload string) string {
		obj, err := signer.Sign([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tok := signES256(`{"sub":"alice"}`)
	twin := ecdsaTwin(t, tok)
	// The twin is a valid, canonical token in its own right: only the replay key can tell.
	jws, err := jose.ParseSigned(twin, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(&ec.PublicKey); err != nil || twin == tok {
		t.Fatalf("the (r, n-s) twin does not verify (%v) or is the same string", err)
	}
	rsa := rsaKey(t)
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"the ECDSA twin signature", tok, twin, true},
		{"a second ECDSA signature of the same payload", tok, signES256(`{"sub":"alice"}`), true},
		{"another payload", tok, signES256(`{"sub":"bob"}`), false},
		{"another key id in the header", sign(t, rsa, "k1", map[string]any{"sub": "alice"}), sign(t, rsa, "k2", map[string]any{"sub": "alice"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, errA := ReplayKey(tt.a)
			kb, errB := ReplayKey(tt.b)
			if errA != nil || errB != nil {
				t.Fatalf("ReplayKey: %v, %v", errA, errB)
			}
			if (ka == kb) != tt.same {
				t.Fatalf("keys equal = %v, want %v", ka == kb, tt.same)
			}
		})
	}
}

// An anonymous client streaming forged tokens must not make the verifier fetch the provider's
// JWKS for each one (keyset.go).
func TestForgedTokensDoNotMakeTheVerifierFetchTheJWKSEachTime(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	var fetches atomic.Int32
	inner := ki.srv.Config.Handler
	ki.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/keys") {
			fetches.Add(1)
		}
		inner.ServeHTTP(w, r)
	})
	v, err := NewVerifier(t.Context(), ki.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), ki.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	base := fetches.Load()
	forgeries := map[string]func(n int) string{
		"unknown key id": func(n int) string { return sign(t, ki.stranger, strangerKid, ki.claims(map[string]any{"n": n})) },
		"no key id":      func(n int) string { return sign(t, ki.stranger, "", ki.claims(map[string]any{"n": n})) },
		"published key id, another key": func(n int) string {
			return sign(t, ki.stranger, publishedKid, ki.claims(map[string]any{"n": n}))
		},
	}
	for name, forge := range forgeries {
		for i := range 50 {
			if _, err := v.Verify(t.Context(), forge(i)); !errors.Is(err, access.ErrBadSignature) {
				t.Fatalf("%s #%d: Verify = %v, want a bad signature", name, i, err)
			}
		}
	}
	// The interval (DefaultJWKSRefetchInterval) has not passed since the first fetch.
	if n := fetches.Load() - base; n > 1 {
		t.Fatalf("150 forged tokens made %d JWKS fetches, want at most 1", n)
	}
}
