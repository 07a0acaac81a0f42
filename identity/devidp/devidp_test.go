package devidp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestDiscoveryAnnouncesTheFlows(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	resp, err := ti.client.Get(ti.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string   `json:"issuer"`
		JWKS          string   `json:"jwks_uri"`
		Device        string   `json:"device_authorization_endpoint"`
		Revocation    string   `json:"revocation_endpoint"`
		Token         string   `json:"token_endpoint"`
		PKCE          []string `json:"code_challenge_methods_supported"`
		Grants        []string `json:"grant_types_supported"`
		SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
		ScopesAllowed []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want string
	}{
		{"issuer", doc.Issuer, ti.issuer},
		{"jwks_uri", doc.JWKS, ti.issuer + "/keys"},
		{"device_authorization_endpoint", doc.Device, ti.issuer + "/device_authorization"},
		{"revocation_endpoint", doc.Revocation, ti.issuer + "/revoke"},
		{"token_endpoint", doc.Token, ti.issuer + "/oauth/token"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	for _, want := range []struct {
		list []string
		item string
	}{
		{doc.PKCE, "S256"},
		{doc.Grants, "urn:ietf:params:oauth:grant-type:device_code"},
		{doc.Grants, "refresh_token"},
		{doc.Grants, "authorization_code"},
		{doc.SigningAlgs, "RS256"},
		{doc.ScopesAllowed, "groups"},
	} {
		if !slices.Contains(want.list, want.item) {
			t.Errorf("discovery lacks %q in %v", want.item, want.list)
		}
	}
}

// jwks fetches the provider's published keys.
func (ti *testIdP) jwks(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	resp, err := ti.client.Get(ti.issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verifyWithJWKS checks the ID token's signature with the published key it
// names, and returns that key id.
func (ti *testIdP) verifyWithJWKS(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	set := ti.jwks(t)
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with id %q", len(keys), kid)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return kid
}

func TestRotateKeyKeepsOldKeysPublished(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	before, err := ti.deviceToken(t, "bob@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	oldKid := ti.verifyWithJWKS(t, before.Extra("id_token").(string))
	if err := ti.p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if n := len(ti.jwks(t).Keys); n != 2 {
		t.Fatalf("after one rotation the JWKS has %d keys, want 2", n)
	}
	after, err := ti.deviceToken(t, "bob@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	newKid := ti.verifyWithJWKS(t, after.Extra("id_token").(string))
	if newKid == oldKid {
		t.Fatalf("token after rotation signed with the old key %s", oldKid)
	}
	ti.verifyWithJWKS(t, before.Extra("id_token").(string))
	for range MaxPublishedKeys {
		if err := ti.p.RotateKey(); err != nil {
			t.Fatal(err)
		}
	}
	set := ti.jwks(t)
	if len(set.Keys) != MaxPublishedKeys || len(set.Key(oldKid)) != 0 {
		t.Fatalf("after many rotations the JWKS has %d keys (old key present: %v), want %d without the oldest",
			len(set.Keys), len(set.Key(oldKid)) != 0, MaxPublishedKeys)
	}
}

func TestLoginPages(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantText   string
	}{
		{"device page without code", "/idp/device", http.StatusOK, `name="user_code"`},
		{"device page with unknown code", "/idp/device?user_code=XXXX-XXXX", http.StatusBadRequest, "unknown or expired user code"},
		{"login page without request", "/idp/login", http.StatusBadRequest, "sign-in request is missing"},
		{"login page with a request id", "/idp/login?authRequestID=abc", http.StatusOK, `name="otp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ti.client.Get(ti.srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantText) {
				t.Fatalf("HTTP %d, want %d with %q:\n%s", resp.StatusCode, tt.wantStatus, tt.wantText, body)
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("security headers missing: %v", resp.Header)
			}
		})
	}
	// A login for an unknown request refuses even with good credentials.
	resp, err := ti.client.PostForm(ti.srv.URL+"/idp/login", url.Values{
		formAuthRequestID: {"abc"}, formUsername: {"alice"}, formPassword: {"password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("login for an unknown request: HTTP %d, want 400", resp.StatusCode)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	dir, err := newDirectory(DefaultUsers())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, login, password, otp string
		wantEmail                  string
		wantAMR                    []string
		wantErr                    error
	}{
		{"alice password", "alice@example.com", "password", "", "alice@example.com", []string{"pwd"}, nil},
		{"alice with otp", "alice@example.com", "password", "123456", "alice@example.com", []string{"pwd", "otp", "mfa"}, nil},
		{"alice by username, any case", " ALICE ", "password", " 123456 ", "alice@example.com", []string{"pwd", "otp", "mfa"}, nil},
		{"alice wrong otp", "alice@example.com", "password", "000000", "", nil, ErrBadOTP},
		{"bob has no second factor", "bob@example.com", "password", "123456", "", nil, ErrBadOTP},
		{"wrong password", "bob@example.com", "Password", "", "", nil, ErrBadCredentials},
		{"unknown user", "eve@example.com", "password", "", "", nil, ErrBadCredentials},
		{"empty login", "", "", "", "", nil, ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, amr, err := dir.authenticate(tt.login, tt.password, tt.otp)
			if !errors.Is(err, tt.wantErr) || u.Email != tt.wantEmail || !slices.Equal(amr, tt.wantAMR) {
				t.Fatalf("authenticate = %q %v %v, want %q %v %v", u.Email, amr, err, tt.wantEmail, tt.wantAMR, tt.wantErr)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no issuer", Config{}, "not a URL"},
		{"http on a public host", Config{Issuer: "http://idp.example.com/idp"}, "must use https"},
		{"query in issuer", Config{Issuer: "https://127.0.0.1/idp?x=1"}, "query"},
		{"duplicate users", Config{Issuer: "https://127.0.0.1/idp", Users: []User{
			{Email: "a@example.com", Password: "p"}, {Email: "A@example.com", Password: "q"}}}, "duplicate user"},
		{"MFA user without OTP", Config{Issuer: "https://127.0.0.1/idp", Users: []User{
			{Email: "a@example.com", Password: "p", MFA: true}}}, "has no OTP"},
		{"user without email", Config{Issuer: "https://127.0.0.1/idp", Users: []User{{Password: "p"}}}, "needs an email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := Config{Issuer: "ftp://idp.example.com", Users: []User{{Email: "x@example.com"}}}.Validate()
	for _, want := range []string{"must use https", "has no password"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to mention %q", err, want)
		}
	}
	if err := (Config{Issuer: "https://127.0.0.1:8443/idp"}).Validate(); err != nil {
		t.Errorf("Validate of a good config = %v", err)
	}
}
