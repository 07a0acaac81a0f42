package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/portcullis/portcullis/access"
	"golang.org/x/oauth2"
)

// Token is what a sign-in yields: the ID token the Connection Manager
// verifies, and the OAuth tokens that renew it.
type Token struct {
	// IDToken is the raw ID token (a compact JWT).
	IDToken string `json:"id_token"`
	// AccessToken is the OAuth access token, opaque to Portcullis.
	AccessToken string `json:"access_token"`
	// RefreshToken renews the tokens (see DeviceLogin.Refresh); "" when none was issued.
	RefreshToken string `json:"refresh_token,omitempty"`
	// Expiry is when the ID token expires (its exp claim, read without
	// verification), or the access token's expiry when the ID token has no exp.
	Expiry time.Time `json:"expiry"`
	// Issuer is the issuer URL of the provider that signed the ID token.
	Issuer string `json:"issuer"`
}

// ErrNoIDToken: the provider's token response carried no id_token.
var ErrNoIDToken = errors.New("identity: token response has no id_token")

// DeviceLogin signs a person in with the OAuth 2.0 device authorization
// grant (RFC 8628): it shows a verification URI and a user code, then polls
// the provider until the person has approved the code in a browser.
type DeviceLogin struct {
	// Config names the provider and client; Config.Scopes are requested.
	Config Config
	// Prompt shows the verification URI and user code to the person; nil
	// prints them to standard error.
	Prompt func(verificationURI, userCode string)
}

// Run starts a device authorization and waits until it is approved, denied
// or expired, or ctx ends.
func (d DeviceLogin) Run(ctx context.Context) (*Token, error) {
	oc, cfg, err := publicClient(ctx, d.Config, true)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: device authorization at %s: %w", oc.Endpoint.DeviceAuthURL, err)
	}
	cfg.Logger.InfoContext(ctx, "device authorization started", "verification_uri", da.VerificationURI, "expires", da.Expiry)
	d.prompt(da.VerificationURI, da.UserCode)
	tok, err := oc.DeviceAccessToken(ctx, da)
	if err != nil {
		return nil, fmt.Errorf("identity: waiting for device approval: %w", loginEnded(err))
	}
	return newToken(tok, cfg.Issuer)
}

// Refresh renews t with its refresh token and returns the new tokens.
func (d DeviceLogin) Refresh(ctx context.Context, t *Token) (*Token, error) {
	return Refresh(ctx, d.Config, t)
}

// ErrNoRefreshToken: a token without a refresh token cannot be renewed; sign in again.
var ErrNoRefreshToken = errors.New("identity: the sign-in has no refresh token")

// Refresh renews t with its refresh token at the provider cfg names and returns the new
// tokens. A revoked or expired refresh token fails with the provider's error.
func Refresh(ctx context.Context, c Config, t *Token) (*Token, error) {
	if t == nil || t.RefreshToken == "" {
		return nil, ErrNoRefreshToken
	}
	oc, cfg, err := publicClient(ctx, c, false)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	stale := &oauth2.Token{RefreshToken: t.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := oc.TokenSource(ctx, stale).Token()
	if err != nil {
		return nil, fmt.Errorf("identity: refresh at %s: %w", oc.Endpoint.TokenURL, err)
	}
	return newToken(tok, cfg.Issuer)
}

func (d DeviceLogin) prompt(uri, code string) {
	if d.Prompt != nil {
		d.Prompt(uri, code)
		return
	}
	fmt.Fprintf(os.Stderr, "To sign in, open %s and enter the code %s\n", uri, code)
}

// publicClient discovers the provider's endpoints and builds the public client's config;
// needDevice requires a device authorization endpoint.
func publicClient(ctx context.Context, c Config, needDevice bool) (*oauth2.Config, Config, error) {
	if err := c.Validate(); err != nil {
		return nil, Config{}, err
	}
	cfg := c.withDefaults()
	dctx, cancel := context.WithTimeout(ctx, DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(dctx, cfg.HTTPClient), cfg.Issuer)
	if err != nil {
		return nil, Config{}, fmt.Errorf("%w: discovery of %s: %w", access.ErrProviderUnavailable, cfg.Issuer, err)
	}
	ep := p.Endpoint()
	if needDevice && ep.DeviceAuthURL == "" {
		return nil, Config{}, fmt.Errorf("identity: %s announces no device_authorization_endpoint", cfg.Issuer)
	}
	// A public client: the client id goes in the form, there is no secret.
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: ep, Scopes: cfg.Scopes}, cfg, nil
}

// newToken takes the ID token out of an OAuth token response.
func newToken(tok *oauth2.Token, issuer string) (*Token, error) {
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		return nil, ErrNoIDToken
	}
	t := &Token{IDToken: id, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry, Issuer: issuer}
	if exp, err := UnverifiedExpiry(id); err == nil {
		t.Expiry = exp
	}
	return t, nil
}

// UnverifiedExpiry reads the exp claim of a compact JWT WITHOUT checking its
// signature. Clients use it to decide when to refresh their own token; it
// must never be used to trust a token.
func UnverifiedExpiry(rawJWT string) (time.Time, error) {
	if len(rawJWT) > MaxTokenBytes {
		return time.Time{}, fmt.Errorf("%w: token is %d bytes, the limit is %d", access.ErrMalformed, len(rawJWT), MaxTokenBytes)
	}
	parts := strings.Split(rawJWT, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("%w: a compact JWT has 3 parts, this one %d", access.ErrMalformed, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: payload: %w", access.ErrMalformed, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return time.Time{}, fmt.Errorf("%w: payload: %w", access.ErrMalformed, err)
	}
	exp, ok, err := timeClaim(raw, "exp")
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, fmt.Errorf("%w: exp is absent", access.ErrMissingClaim)
	}
	return exp, nil
}
