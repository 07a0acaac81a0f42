// Package devidp is the development identity provider: a real OpenID
// Provider (built on github.com/zitadel/oidc/v3/pkg/op) with in-memory
// storage and the SCENARIOS cast (alice, bob, carol, dave, mallory), so that
// Portcullis can be demonstrated and tested end to end without an external IdP.
//
// It serves, under its issuer path (e.g. https://127.0.0.1:8443/idp):
//
//	/.well-known/openid-configuration   discovery
//	/keys                               JWKS (every key still valid for verification)
//	/authorize, /authorize/callback     authorization code flow; PKCE (S256) required
//	/login                              the HTML login form of the code flow
//	/oauth/token                        code, refresh_token and device_code grants
//	/device_authorization               device authorization (RFC 8628)
//	/device                             the user-code page: the same login form, plus the code
//	/revoke, /userinfo, /oauth/introspect, /end_session
//
// One public client (default id "portcullis", no secret) may use the code
// flow with loopback redirect URIs on any port (RFC 8252,
// http://127.0.0.1:PORT/callback), the device flow, and refresh tokens.
//
// A person signs in with username (email or the part before @), password and
// an optional one-time code. ID tokens carry email, email_verified, name,
// preferred_username, groups, auth_time and amr: ["pwd"], or
// ["pwd","otp","mfa"] when the one-time code matched the user's. Tokens are
// signed with a key made at start; RotateKey makes a new one current and keeps
// the old ones in the JWKS.
//
// SubmitDeviceLogin and SubmitBrowserLogin fill in and post the login form
// over HTTP as a person's browser would, so that the demo and the tests can
// sign in without one.
//
// devidp is for development only and must never guard anything real: its
// passwords and one-time codes are fixed and held in plain text, its forms
// have no CSRF protection or lockout, and its state is lost on restart. It
// never logs passwords or tokens.
package devidp
