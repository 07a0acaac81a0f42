package devidp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

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
