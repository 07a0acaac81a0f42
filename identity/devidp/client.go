package devidp

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client and token lifetimes.
const (
	// DefaultClientID is the id of the public client when Config.ClientID is empty.
	DefaultClientID = "portcullis"
	// IDTokenLifetime is how long an ID token is valid.
	IDTokenLifetime = time.Hour
	// AccessTokenLifetime is how long an access token is valid.
	AccessTokenLifetime = time.Hour
	// RefreshTokenLifetime is how long a refresh token is valid; each use rotates it.
	RefreshTokenLifetime = 24 * time.Hour
)

// loopbackRedirectURIs are registered for the native client; the provider
// accepts them on any port (RFC 8252 section 7.3).
func loopbackRedirectURIs() []string {
	return []string{"http://127.0.0.1/callback", "http://[::1]/callback", "http://localhost/callback"}
}

// publicClient is the one registered client: a native (public) application
// without a secret that may use the code flow with PKCE, the device flow
// and refresh tokens. It implements op.Client.
type publicClient struct {
	id       string
	loginURL string   // absolute path of the login form, e.g. /idp/login
	web      []string // exact redirect URIs of web applications (Config.WebRedirectURIs)
}

func (c publicClient) GetID() string                       { return c.id }
func (c publicClient) RedirectURIs() []string              { return append(loopbackRedirectURIs(), c.web...) }
func (c publicClient) PostLogoutRedirectURIs() []string    { return loopbackRedirectURIs() }
func (c publicClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (c publicClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodNone }
func (c publicClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c publicClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode}
}

// LoginURL sends the browser to the login form for auth request id.
func (c publicClient) LoginURL(id string) string {
	return c.loginURL + "?" + formAuthRequestID + "=" + url.QueryEscape(id)
}
func (c publicClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c publicClient) IDTokenLifetime() time.Duration      { return IDTokenLifetime }
func (c publicClient) DevMode() bool                       { return false }
func (c publicClient) ClockSkew() time.Duration            { return 0 }

// IDTokenUserinfoClaimsAssertion puts email, profile and groups in the ID
// token even when an access token is issued: the ID token is what
// Portcullis verifies.
func (c publicClient) IDTokenUserinfoClaimsAssertion() bool { return true }

// IsScopeAllowed admits the groups scope besides the standard ones.
func (c publicClient) IsScopeAllowed(scope string) bool { return scope == scopeGroups }

func (c publicClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c publicClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
