package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/portcullis/portcullis/access"
)

func TestVerifyCraftedTokens(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	v, err := NewVerifier(t.Context(), ki.config())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := ki.token(t, nil)
	tests := []struct {
		name   string
		token  string
		reason error // nil = accepted
		detail string
	}{
		{"valid", valid, nil, ""},
		{"expired", ki.token(t, map[string]any{"exp": now.Add(-time.Hour).Unix()}), access.ErrExpired, "expired at"},
		{"expired within the skew", ki.token(t, map[string]any{"exp": now.Add(-10 * time.Second).Unix()}), nil, ""},
		{"issued in the future", ki.token(t, map[string]any{"iat": now.Add(time.Hour).Unix()}), access.ErrNotYetValid, "iat"},
		{"not yet valid", ki.token(t, map[string]any{"nbf": now.Add(time.Hour).Unix()}), access.ErrNotYetValid, "nbf"},
		{"other issuer", ki.token(t, map[string]any{"iss": "https://idp.example.com"}), access.ErrWrongIssuer, "https://idp.example.com"},
		{"other audience", ki.token(t, map[string]any{"aud": "grafana"}), access.ErrWrongAudience, "grafana"},
		{"several audiences without azp", ki.token(t, map[string]any{"aud": []string{"grafana", testClientID}}), access.ErrWrongAudience, "no azp"},
		{"several audiences, azp is us", ki.token(t, map[string]any{"aud": []string{"grafana", testClientID}, "azp": testClientID}), nil, ""},
		{"several audiences, azp is another", ki.token(t, map[string]any{"aud": []string{"grafana", testClientID}, "azp": "grafana"}), access.ErrWrongAudience, "azp"},
		{"unknown signing key", sign(t, ki.stranger, strangerKid, ki.claims(nil)), access.ErrBadSignature, strangerKid},
		{"unpublished key under a published key id", sign(t, ki.stranger, publishedKid, ki.claims(nil)), access.ErrBadSignature, publishedKid},
		{"tampered payload", tamper(t, valid), access.ErrBadSignature, ""},
		{"unsigned (alg none)", unsigned(ki.claims(nil)), access.ErrMalformed, ""},
		{"HMAC signed", hmacSigned(t, ki.claims(nil)), access.ErrMalformed, ""},
		{"garbage", "not.a.token", access.ErrMalformed, ""},
		{"empty", "", access.ErrMalformed, ""},
		{"too large", strings.Repeat("a", MaxTokenBytes+1), access.ErrMalformed, "limit"},
		{"no sub", ki.token(t, map[string]any{"sub": nil}), access.ErrMissingClaim, "sub"},
		{"no exp", ki.token(t, map[string]any{"exp": nil}), access.ErrMissingClaim, "exp"},
		{"no iat", ki.token(t, map[string]any{"iat": nil}), access.ErrMissingClaim, "iat"},
		{"no email (the user claim)", ki.token(t, map[string]any{"email": nil}), access.ErrMissingClaim, "email"},
		{"exp is a string", ki.token(t, map[string]any{"exp": "tomorrow"}), access.ErrMalformed, "exp"},
		{"groups hold a number", ki.token(t, map[string]any{"groups": []any{"ops", 7}}), access.ErrMalformed, "groups"},
		{"email is an object", ki.token(t, map[string]any{"email": map[string]any{"a": 1}}), access.ErrMalformed, "email"},
		{"claims are null", sign(t, ki.published, publishedKid, nil), access.ErrMalformed, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tt.token)
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "alice@example.com" || !slices.Equal(c.Groups, []string{"ops"}) || !c.HasAMR("mfa") {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.reason) || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Verify = %v, want ErrInvalidToken and %v mentioning %q", err, tt.reason, tt.detail)
			}
			if access.CodeOf(err) != access.CodeOf(tt.reason) {
				t.Fatalf("Code = %q, want %q", access.CodeOf(err), access.CodeOf(tt.reason))
			}
		})
	}
}

func tamper(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), `"ops"`, `"adm"`, 1)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
}

func unsigned(claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(claims)
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}

func hmacSigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
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

func TestClaimMapping(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	tests := []struct {
		name        string
		mapping     ClaimMapping
		edits       map[string]any
		wantSubject string
		wantGroups  []string
		reason      error
	}{
		{"email by default", ClaimMapping{}, nil, "alice@example.com", []string{"ops"}, nil},
		{"preferred_username", ClaimMapping{UserClaim: "preferred_username"}, map[string]any{"preferred_username": "alice"}, "alice", []string{"ops"}, nil},
		{"sub", ClaimMapping{UserClaim: "sub"}, nil, "u-alice", []string{"ops"}, nil},
		{"custom groups claim", ClaimMapping{GroupsClaim: "roles"}, map[string]any{"roles": []string{"ops", "dba"}}, "alice@example.com", []string{"ops", "dba"}, nil},
		{"groups as one string", ClaimMapping{}, map[string]any{"groups": "ops"}, "alice@example.com", []string{"ops"}, nil},
		{"no groups claim", ClaimMapping{}, map[string]any{"groups": nil}, "alice@example.com", nil, nil},
		{"email verified required and given", ClaimMapping{RequireEmailVerified: true}, nil, "alice@example.com", []string{"ops"}, nil},
		{"email verified as a string", ClaimMapping{RequireEmailVerified: true}, map[string]any{"email_verified": "true"}, "alice@example.com", []string{"ops"}, nil},
		{"email not verified", ClaimMapping{RequireEmailVerified: true}, map[string]any{"email_verified": false}, "", nil, access.ErrEmailNotVerified},
		{"email_verified absent", ClaimMapping{RequireEmailVerified: true}, map[string]any{"email_verified": nil}, "", nil, access.ErrEmailNotVerified},
		{"unverified email accepted when not required", ClaimMapping{}, map[string]any{"email_verified": false}, "alice@example.com", []string{"ops"}, nil},
		{"missing preferred_username", ClaimMapping{UserClaim: "preferred_username"}, nil, "", nil, access.ErrMissingClaim},
		{"mfa required and present", ClaimMapping{RequireAMR: []string{"mfa"}}, map[string]any{"amr": []string{"pwd", "mfa"}}, "alice@example.com", []string{"ops"}, nil},
		{"mfa required, password only", ClaimMapping{RequireAMR: []string{"mfa"}}, map[string]any{"amr": []string{"pwd"}}, "", nil, access.ErrInsufficientAuth},
		{"acr required and met", ClaimMapping{RequireACR: []string{"gold", "silver"}}, map[string]any{"acr": "gold"}, "alice@example.com", []string{"ops"}, nil},
		{"acr required, another given", ClaimMapping{RequireACR: []string{"gold"}}, map[string]any{"acr": "bronze"}, "", nil, access.ErrInsufficientAuth},
		{"acr required, none given", ClaimMapping{RequireACR: []string{"gold"}}, nil, "", nil, access.ErrInsufficientAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ki.config()
			cfg.Mapping = tt.mapping
			v, err := NewVerifier(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(t.Context(), ki.token(t, tt.edits))
			if tt.reason != nil {
				if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.reason) {
					t.Fatalf("Verify = %v, want %v", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != tt.wantSubject || !slices.Equal(c.Groups, tt.wantGroups) {
				t.Fatalf("subject %q groups %v, want %q %v", c.Subject, c.Groups, tt.wantSubject, tt.wantGroups)
			}
			if c.Sub != "u-alice" || c.Issuer != ki.issuer || c.Name != "Alice" || c.AuthTime.IsZero() || c.Expiry.IsZero() {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestVerifyWithClockAndSkew(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	raw := ki.token(t, nil) // expires in one hour
	tests := []struct {
		name   string
		ahead  time.Duration
		skew   time.Duration
		reason error
	}{
		{"now", 0, 0, nil},
		{"59 minutes later", 59 * time.Minute, 0, nil},
		{"61 minutes later", 61 * time.Minute, 0, access.ErrExpired},
		{"61 minutes later with 2 minutes of skew", 61 * time.Minute, 2 * time.Minute, nil},
		{"10 minutes earlier", -10 * time.Minute, 0, access.ErrNotYetValid},
		{"4 minutes earlier with the largest skew", -4 * time.Minute, MaxSkewLimit, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ki.config()
			cfg.MaxSkew = tt.skew
			cfg.Now = func() time.Time { return time.Now().Add(tt.ahead) }
			v, err := NewVerifier(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(t.Context(), raw)
			if tt.reason == nil && err != nil || tt.reason != nil && !errors.Is(err, tt.reason) {
				t.Fatalf("Verify = %v, want %v", err, tt.reason)
			}
		})
	}
}

func TestLazyDiscoveryWhenTheProviderIsMountedLater(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	ki.online.Store(false)
	v, err := NewVerifier(t.Context(), ki.config())
	if err != nil {
		t.Fatalf("NewVerifier must not fail while the provider is not mounted: %v", err)
	}
	raw := ki.token(t, nil)
	_, err = v.Verify(t.Context(), raw)
	if !errors.Is(err, access.ErrProviderUnavailable) || errors.Is(err, ErrInvalidToken) || access.CodeOf(err) != "provider_unavailable" {
		t.Fatalf("Verify before mount = %v, want access.ErrProviderUnavailable only", err)
	}
	ki.online.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*DiscoveryRetryInterval)
	defer cancel()
	for {
		c, err := v.Verify(ctx, raw)
		if err == nil {
			if c.Subject != "alice@example.com" {
				t.Fatalf("claims = %+v", c)
			}
			return
		}
		if !errors.Is(err, access.ErrProviderUnavailable) {
			t.Fatalf("Verify after mount = %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("discovery never retried: %v", err)
		case <-time.After(DiscoveryRetryInterval / 4):
		}
	}
}

func TestNewVerifierRefusesAnIssuerMismatch(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	cfg := ki.config()
	cfg.Issuer = ki.issuer + "/" // discovery answers with the issuer without the slash
	if _, err := NewVerifier(t.Context(), cfg); err == nil {
		t.Fatal("NewVerifier accepted a provider that names another issuer")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // every problem reported at once
	}{
		{"valid https", Config{Issuer: "https://idp.example.com/realms/acme", ClientID: "portcullis"}, nil},
		{"valid loopback http", Config{Issuer: "http://127.0.0.1:8080/idp", ClientID: "portcullis"}, nil},
		{"empty", Config{}, []string{"issuer is required", "client id is required"}},
		{"public http", Config{Issuer: "http://idp.example.com", ClientID: "x"}, []string{"must use https"}},
		{"query", Config{Issuer: "https://idp.example.com/?a=b", ClientID: "x"}, []string{"query"}},
		{"no host", Config{Issuer: "https:///path", ClientID: "x"}, []string{"no host"}},
		{"skew too large", Config{Issuer: "https://idp.example.com", ClientID: "x", MaxSkew: time.Hour}, []string{"max skew"}},
		{"negative skew", Config{Issuer: "https://idp.example.com", ClientID: "x", MaxSkew: -time.Second}, []string{"max skew"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestCheckNonce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		have, want string
		ok         bool
	}{
		{"equal", "n-123", "n-123", true},
		{"different", "n-123", "n-124", false},
		{"token has none", "", "n-123", false},
		{"nothing expected", "n-123", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Claims{Nonce: tt.have}.CheckNonce(tt.want)
			if tt.ok != (err == nil) || !tt.ok && (!errors.Is(err, access.ErrNonceMismatch) || !errors.Is(err, ErrInvalidToken)) {
				t.Fatalf("CheckNonce = %v, ok want %v", err, tt.ok)
			}
		})
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{refuse(access.ErrExpired, "x"), "expired"},
		{refuse(access.ErrBadSignature, "x"), "bad_signature"},
		{refuse(access.ErrWrongIssuer, "x"), "wrong_issuer"},
		{refuse(access.ErrWrongAudience, "x"), "wrong_audience"},
		{refuse(access.ErrMalformed, "x"), "malformed"},
		{refuse(access.ErrNotYetValid, "x"), "not_yet_valid"},
		{refuse(access.ErrMissingClaim, "x"), "missing_claim"},
		{refuse(access.ErrEmailNotVerified, "x"), "email_not_verified"},
		{refuse(access.ErrNonceMismatch, "x"), "nonce_mismatch"},
		{refuse(access.ErrInsufficientAuth, "x"), "insufficient_authentication"},
		{access.ErrProviderUnavailable, "provider_unavailable"},
		{context.Canceled, "canceled"},
		{errors.New("disk on fire"), "internal"},
	}
	for _, tt := range tests {
		if got := access.CodeOf(tt.err); string(got) != tt.want {
			t.Errorf("Code(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	ki := newKeyIssuer(f)
	v, err := NewVerifier(f.Context(), ki.config())
	if err != nil {
		f.Fatal(err)
	}
	valid := ki.token(f, nil)
	f.Add(valid)
	f.Add(valid + "x")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add(unsigned(ki.claims(nil)))
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(t.Context(), raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("refusal %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if c.Subject != "alice@example.com" || c.Issuer != ki.issuer {
			t.Fatalf("accepted a token with claims %+v", c)
		}
	})
}
