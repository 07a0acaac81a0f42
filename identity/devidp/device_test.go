package devidp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

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
