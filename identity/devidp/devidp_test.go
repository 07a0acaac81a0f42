package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
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

func TestDeviceFlowPutsTheCastInTheIDToken(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	tests := []struct {
		name, login, password, otp string
		email                      string
		groups, amr                []string
	}{
		{"alice with one-time code", "alice@example.com", "password", "123456", "alice@example.com", []string{"ops"}, []string{"pwd", "otp", "mfa"}},
		{"alice without one-time code", "alice@example.com", "password", "", "alice@example.com", []string{"ops"}, []string{"pwd"}},
		{"bob", "bob@example.com", "password", "", "bob@example.com", []string{"contractors"}, []string{"pwd"}},
		{"carol by username", "carol", "password", "", "carol@example.com", []string{"auditors"}, []string{"pwd"}},
		{"dave", "dave@example.com", "password", "", "dave@example.com", []string{"portcullis-admins"}, []string{"pwd"}},
		{"mallory", "mallory@example.com", "password", "", "mallory@example.com", []string{}, []string{"pwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := ti.deviceToken(t, tt.login, tt.password, tt.otp)
			if err != nil {
				t.Fatalf("device flow: %v", err)
			}
			if tok.RefreshToken == "" {
				t.Error("no refresh token for offline_access")
			}
			c := idClaims(t, tok)
			ti.verifyWithJWKS(t, tok.Extra("id_token").(string))
			if c["iss"] != ti.issuer || c["email"] != tt.email || c["email_verified"] != true {
				t.Errorf("iss/email/email_verified = %v/%v/%v", c["iss"], c["email"], c["email_verified"])
			}
			if got := stringsOf(c["aud"]); !slices.Equal(got, []string{DefaultClientID}) {
				t.Errorf("aud = %v", got)
			}
			if got := stringsOf(c["groups"]); !slices.Equal(got, tt.groups) {
				t.Errorf("groups = %v, want %v", got, tt.groups)
			}
			if got := stringsOf(c["amr"]); !slices.Equal(got, tt.amr) {
				t.Errorf("amr = %v, want %v", got, tt.amr)
			}
			authTime, _ := c["auth_time"].(float64)
			if d := time.Since(time.Unix(int64(authTime), 0)); d < -time.Minute || d > time.Minute {
				t.Errorf("auth_time %v is not about now", c["auth_time"])
			}
			if c["name"] == "" || c["preferred_username"] != strings.Split(tt.email, "@")[0] {
				t.Errorf("name/preferred_username = %v/%v", c["name"], c["preferred_username"])
			}
		})
	}
}

func TestDeviceLoginRefusals(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	tests := []struct {
		name, login, password, otp string
		userCode                   string // "" = the real one
		reason                     string
	}{
		{"wrong password", "alice@example.com", "secret", "", "", "wrong username or password"},
		{"unknown user", "eve@example.com", "password", "", "", "wrong username or password"},
		{"wrong one-time code", "alice@example.com", "password", "654321", "", "wrong one-time code"},
		{"one-time code for a user without MFA", "bob@example.com", "password", "123456", "", "wrong one-time code"},
		{"unknown user code", "alice@example.com", "password", "", "BCDF-GHJK", "unknown or expired user code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := ti.ctx(t)
			oc := ti.oauth2Config()
			da, err := oc.DeviceAuth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			code := tt.userCode
			if code == "" {
				code = da.UserCode
			}
			err = SubmitDeviceLogin(ctx, ti.client, da.VerificationURI, code, tt.login, tt.password, tt.otp)
			if !errors.Is(err, ErrLoginRefused) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("SubmitDeviceLogin = %v, want ErrLoginRefused with %q", err, tt.reason)
			}
			// The refused attempt leaves the device code pending: still no token.
			if _, err := exchangeDeviceCode(ctx, ti, da.DeviceCode); !strings.Contains(err.Error(), "authorization_pending") {
				t.Fatalf("after a refused sign-in the token endpoint says %v, want authorization_pending", err)
			}
		})
	}
}

// exchangeDeviceCode asks the token endpoint once for the device code's tokens.
func exchangeDeviceCode(ctx context.Context, ti *testIdP, deviceCode string) (*http.Response, error) {
	form := url.Values{
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode},
		"client_id":   {DefaultClientID},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ti.issuer+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := ti.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp, errors.New(string(body))
	}
	return resp, nil
}

func TestDeviceCodeYieldsTokensOnce(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	ctx := ti.ctx(t)
	oc := ti.oauth2Config()
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := SubmitDeviceLogin(ctx, ti.client, da.VerificationURIComplete, da.UserCode, "dave@example.com", "password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := exchangeDeviceCode(ctx, ti, da.DeviceCode); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	if _, err := exchangeDeviceCode(ctx, ti, da.DeviceCode); err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("second exchange = %v, want access_denied", err)
	}
	// The used user code is gone from the page too.
	err = SubmitDeviceLogin(ctx, ti.client, da.VerificationURI, da.UserCode, "dave@example.com", "password", "")
	if !errors.Is(err, ErrLoginRefused) {
		t.Fatalf("re-approving a used code = %v, want ErrLoginRefused", err)
	}
}

// browser follows the provider's redirects like a browser, and stops at the
// redirect back to the (loopback) client.
func (ti *testIdP) browser() *http.Client {
	c := *ti.client
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != ti.srv.Listener.Addr().String() {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &c
}

// signInWithCode runs the code flow's browser part: the authorization
// request, the login form, and returns where the provider sends the browser back.
func (ti *testIdP) signInWithCode(t *testing.T, authURL, login, password, otp string) *url.URL {
	t.Helper()
	b := ti.browser()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusFound {
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	view, err := parseLoginPage(page)
	if err != nil || !view.HasForm {
		t.Fatalf("login page (HTTP %d): form %v, err %v", resp.StatusCode, view.HasForm, err)
	}
	action, err := resp.Request.URL.Parse(view.Action)
	if err != nil {
		t.Fatal(err)
	}
	view.Fields.Set(formUsername, login)
	view.Fields.Set(formPassword, password)
	view.Fields.Set(formOTP, otp)
	resp, err = b.PostForm(action.String(), view.Fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("login answered HTTP %d without redirect: %v", resp.StatusCode, err)
	}
	return loc
}

func TestCodeFlowWithPKCEOnAnyLoopbackPort(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	for _, redirect := range []string{"http://127.0.0.1:49152/callback", "http://127.0.0.1:61000/callback", "http://localhost:8123/callback"} {
		t.Run(redirect, func(t *testing.T) {
			oc := ti.oauth2Config()
			oc.RedirectURL = redirect
			verifier := oauth2.GenerateVerifier()
			authURL := oc.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-1"))
			back := ti.signInWithCode(t, authURL, "alice@example.com", "password", "123456")
			if !strings.HasPrefix(back.String(), redirect+"?") || back.Query().Get("state") != "state-1" {
				t.Fatalf("redirected to %s", back)
			}
			code := back.Query().Get("code")
			if _, err := oc.Exchange(ti.ctx(t), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
				t.Fatal("exchange with the wrong code_verifier succeeded")
			}
			tok, err := oc.Exchange(ti.ctx(t), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			c := idClaims(t, tok)
			ti.verifyWithJWKS(t, tok.Extra("id_token").(string))
			if c["nonce"] != "nonce-1" || c["email"] != "alice@example.com" ||
				!slices.Equal(stringsOf(c["amr"]), []string{"pwd", "otp", "mfa"}) || !slices.Equal(stringsOf(c["groups"]), []string{"ops"}) {
				t.Errorf("claims = %v", c)
			}
		})
	}
}

func TestCodeFlowRefusals(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	tests := []struct {
		name     string
		redirect string
		opts     func(verifier string) []oauth2.AuthCodeOption
		wantErr  string // error parameter on the redirect back; "" = no redirect at all
	}{
		{"no PKCE", "http://127.0.0.1:49152/callback",
			func(string) []oauth2.AuthCodeOption { return nil }, "invalid_request"},
		{"plain PKCE", "http://127.0.0.1:49152/callback",
			func(v string) []oauth2.AuthCodeOption {
				return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain")}
			}, "invalid_request"},
		{"redirect to another host", "http://attacker.example/callback",
			func(v string) []oauth2.AuthCodeOption { return []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)} }, ""},
		{"redirect to another loopback path", "http://127.0.0.1:49152/other",
			func(v string) []oauth2.AuthCodeOption { return []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oc := ti.oauth2Config()
			oc.RedirectURL = tt.redirect
			resp, err := ti.browser().Get(oc.AuthCodeURL("s", tt.opts(oauth2.GenerateVerifier())...))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := resp.Location()
			t.Logf("HTTP %d, location %v", resp.StatusCode, loc)
			if tt.wantErr == "" {
				if loc != nil && !strings.HasPrefix(loc.Path, "/idp/") {
					t.Fatalf("redirected to %s, want an error page", loc)
				}
				if resp.StatusCode < 400 {
					t.Fatalf("HTTP %d, want an error", resp.StatusCode)
				}
				return
			}
			if loc == nil || loc.Query().Get("error") != tt.wantErr {
				t.Fatalf("HTTP %d, location %v, want error=%s", resp.StatusCode, loc, tt.wantErr)
			}
		})
	}
}

func TestRefreshRotatesAndRevocationEndsIt(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	ctx := ti.ctx(t)
	tok, err := ti.deviceToken(t, "alice@example.com", "password", "123456")
	if err != nil {
		t.Fatal(err)
	}
	oc := ti.oauth2Config()
	refresh := func(rt string) (*oauth2.Token, error) {
		return oc.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
	}
	fresh, err := refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh token not rotated: %q", fresh.RefreshToken)
	}
	if c := idClaims(t, fresh); !slices.Contains(stringsOf(c["amr"]), "mfa") || c["email"] != "alice@example.com" {
		t.Errorf("refreshed ID token claims = %v", c)
	}
	if _, err := refresh(tok.RefreshToken); err == nil {
		t.Error("the replaced refresh token still works")
	}
	resp, err := ti.client.PostForm(ti.issuer+"/revoke", url.Values{"token": {fresh.RefreshToken}, "client_id": {DefaultClientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: HTTP %d", resp.StatusCode)
	}
	if _, err := refresh(fresh.RefreshToken); err == nil {
		t.Error("the revoked refresh token still works")
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

func TestNormalizeUserCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"BCDF-GHJK":   "BCDFGHJK",
		"bcdf ghjk":   "BCDFGHJK",
		" bcdfghjk\t": "BCDFGHJK",
		"":            "",
	} {
		if got := normalizeUserCode(in); got != want {
			t.Errorf("normalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLoginPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		page string
		want loginPageView
	}{
		{"form with hidden field and error",
			`<form method="post" action="/idp/login"><input type="hidden" name="authRequestID" value="42"><input name="username"></form><p id="error"> wrong  password </p>`,
			loginPageView{Action: "/idp/login", Method: "POST", HasForm: true, Error: "wrong password",
				Fields: url.Values{"authRequestID": {"42"}, "username": {""}}}},
		{"success page", `<main><p id="signed-in">Signed in as <b>bob</b>.</p></main>`,
			loginPageView{Method: "GET", SignedIn: "Signed in as bob.", Fields: url.Values{}}},
		{"inputs outside the form are ignored", `<input name="evil" value="1"><form action="x"><input name="ok"></form>`,
			loginPageView{Action: "x", Method: "GET", HasForm: true, Fields: url.Values{"ok": {""}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLoginPage([]byte(tt.page))
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Fatalf("got  %s\nwant %s", gj, wj)
			}
		})
	}
}

func FuzzParseLoginPage(f *testing.F) {
	f.Add([]byte(loginPage))
	f.Add([]byte(`<form method="post" action="/idp/device"><input name="user_code" value="X"></form><p id="error">x</p>`))
	f.Add([]byte(`<p id="signed-in">ok</p><form><form><input name=a value=b></form>`))
	f.Add([]byte{0, '<', 0xff})
	f.Fuzz(func(t *testing.T, page []byte) {
		v, err := parseLoginPage(page)
		if err != nil {
			return
		}
		if v.Method != http.MethodGet && v.Method != http.MethodPost {
			t.Fatalf("method %q", v.Method)
		}
		if !v.HasForm && (v.Action != "" || len(v.Fields) != 0) {
			t.Fatalf("no form but action %q fields %v", v.Action, v.Fields)
		}
	})
}

func TestApproveDeviceInProcess(t *testing.T) {
	t.Parallel()
	ti := startIdP(t)
	ctx := ti.ctx(t)
	da, err := ti.oauth2Config().DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, code, login, password string
		want                        error
	}{
		{"unknown code", "ZZZZ-ZZZZ", "dave", "password", ErrUnknownUserCode},
		{"wrong password", da.UserCode, "dave", "nope", ErrBadCredentials},
	}
	for _, r := range refusals {
		if err := ti.p.ApproveDevice(ctx, r.code, r.login, r.password, ""); !errors.Is(err, r.want) {
			t.Fatalf("%s: ApproveDevice = %v, want %v", r.name, err, r.want)
		}
	}
	// Typed by a person: lower case, no dash.
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	if err := ti.p.ApproveDevice(ctx, typed, "dave", "password", ""); err != nil {
		t.Fatalf("ApproveDevice: %v", err)
	}
	tok, err := ti.oauth2Config().DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	if c := idClaims(t, tok); c["email"] != "dave@example.com" || !slices.Equal(stringsOf(c["groups"]), []string{"portcullis-admins"}) {
		t.Fatalf("claims = %v", c)
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
