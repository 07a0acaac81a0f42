package devidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// testIdP is a development provider served over real HTTPS under /idp/,
// mounted the way the Connection Manager mounts it.
type testIdP struct {
	p      *Provider
	srv    *httptest.Server
	client *http.Client
	issuer string
}

func startIdP(t *testing.T) *testIdP {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	issuer := "https://" + srv.Listener.Addr().String() + "/idp"
	p, err := New(t.Context(), Config{Issuer: issuer})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux.Handle("/idp/", p.Handler())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &testIdP{p: p, srv: srv, client: srv.Client(), issuer: issuer}
}

// ctx returns a context whose oauth2 calls use the test server's TLS client.
func (ti *testIdP) ctx(t *testing.T) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, ti.client)
}

// oauth2Config is the public client's config with the provider's endpoints.
func (ti *testIdP) oauth2Config(scopes ...string) *oauth2.Config {
	if len(scopes) == 0 {
		scopes = []string{"openid", "email", "profile", "groups", "offline_access"}
	}
	return &oauth2.Config{
		ClientID: DefaultClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:       ti.issuer + "/authorize",
			TokenURL:      ti.issuer + "/oauth/token",
			DeviceAuthURL: ti.issuer + "/device_authorization",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: scopes,
	}
}

// deviceToken starts a device authorization, approves it with the given
// credentials through SubmitDeviceLogin, and returns the token response.
func (ti *testIdP) deviceToken(t *testing.T, email, password, otp string) (*oauth2.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ti.ctx(t), 20*time.Second)
	defer cancel()
	oc := ti.oauth2Config()
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if err := SubmitDeviceLogin(ctx, ti.client, da.VerificationURI, da.UserCode, email, password, otp); err != nil {
		return nil, err
	}
	return oc.DeviceAccessToken(ctx, da)
}

// idClaims decodes an ID token's claims; the signature is checked by
// verifyWithJWKS, and in depth by package identity's tests.
func idClaims(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not a compact JWT", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("id_token payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("id_token claims: %v", err)
	}
	return m
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
