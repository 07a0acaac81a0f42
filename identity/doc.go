// Package identity turns an OpenID Connect ID token into a Portcullis
// subject, and signs a person in from a terminal.
//
// It owns four things:
//
//   - Verifier: checks an ID token against the identity provider (IdP) that
//     issued it: discovery, the canonical compact form (compact.go), signature
//     against the provider's published keys (JWKS, re-fetched when an unknown
//     key id shows up, so a rotated key verifies without a restart, at most
//     once per Config.JWKSRefetchInterval: keyset.go), issuer, audience (and azp when a token
//     names several audiences), expiry and not-before with a bounded clock
//     skew, and optionally email_verified, acr and amr requirements. It maps
//     the configured claims (ClaimMapping) to Claims (user id, groups, amr,
//     acr, auth_time). Every refusal wraps ErrInvalidToken and one refusal
//     code of package access (access.ErrExpired, ErrWrongIssuer,
//     ErrWrongAudience, ErrBadSignature, ...), which is what a caller shows
//     and logs.
//   - BrowserLogin: the authorization code flow with PKCE (S256) and a
//     loopback redirect on 127.0.0.1 with a random port (RFC 8252); state is
//     checked on the redirect, the nonce in the verified ID token.
//   - DeviceLogin: the OAuth 2.0 device authorization grant (RFC 8628) that
//     the CLI uses on machines without a browser.
//   - TokenCache: the CLI's token file per Connection Manager, mode 0600,
//     and the names of the other per-CM files kept beside it (File).
//
// Whichever way a person signed in, Refresh renews the sign-in with its
// refresh token and Revoke ends it at the provider (RFC 7009).
//
// Discovery is lazy: when the IdP cannot be reached while NewVerifier runs
// (the Connection Manager may serve the development IdP itself and start
// verifying before that handler is mounted), the next Verify tries again.
//
// identity never decides access: it reports who a token names and how they
// signed in; policy decides. It never accepts a token whose signature it has
// not checked, never logs a raw token, and holds no global state.
//
// The development identity provider lives in the sub-package devidp.
package identity
