package identity

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvalidToken is wrapped by every refusal of an ID token, together with
// one of the reason sentinels below and a readable detail.
var ErrInvalidToken = errors.New("invalid ID token")

// Reasons an ID token is refused; each refusal wraps ErrInvalidToken and one of these.
var (
	// ErrMalformed: not a compact signed JWT, too large, or claims of the wrong type.
	ErrMalformed = errors.New("malformed")
	// ErrBadSignature: signed by a key the provider does not publish, or the signature does not match.
	ErrBadSignature = errors.New("unknown signing key or bad signature")
	// ErrWrongIssuer: the iss claim is not the configured issuer.
	ErrWrongIssuer = errors.New("wrong issuer")
	// ErrWrongAudience: the aud claim does not name this client, or azp names another client.
	ErrWrongAudience = errors.New("wrong audience")
	// ErrExpired: exp is in the past by more than the allowed skew.
	ErrExpired = errors.New("expired")
	// ErrNotYetValid: nbf or iat is in the future by more than the allowed skew.
	ErrNotYetValid = errors.New("not yet valid")
	// ErrMissingClaim: a required claim (sub, exp, iat, the user claim) is absent or empty.
	ErrMissingClaim = errors.New("missing claim")
	// ErrEmailNotVerified: email_verified is not true while ClaimMapping.RequireEmailVerified is set.
	ErrEmailNotVerified = errors.New("email not verified")
	// ErrNonceMismatch: the nonce claim is not the one the client sent.
	ErrNonceMismatch = errors.New("nonce mismatch")
	// ErrInsufficientAuth: the acr or amr claim does not meet ClaimMapping.RequireACR / RequireAMR.
	ErrInsufficientAuth = errors.New("insufficient authentication")
)

// ErrProviderUnavailable: discovery of the identity provider failed, so no
// token can be verified yet. It does not wrap ErrInvalidToken: the token
// was not looked at.
var ErrProviderUnavailable = errors.New("identity provider unavailable")

// refuse builds a refusal: ErrInvalidToken, the reason, and a readable detail.
func refuse(reason error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalidToken, reason, fmt.Sprintf(format, args...))
}

// Code returns the short reason code of an error from Verify: "malformed",
// "bad_signature", "wrong_issuer", "wrong_audience", "expired",
// "not_yet_valid", "missing_claim", "email_not_verified", "nonce_mismatch", "insufficient_authentication",
// "provider_unavailable", "canceled", "timeout"; "" for nil and "internal"
// for anything else.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrWrongIssuer):
		return "wrong_issuer"
	case errors.Is(err, ErrWrongAudience):
		return "wrong_audience"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrMissingClaim):
		return "missing_claim"
	case errors.Is(err, ErrEmailNotVerified):
		return "email_not_verified"
	case errors.Is(err, ErrNonceMismatch):
		return "nonce_mismatch"
	case errors.Is(err, ErrInsufficientAuth):
		return "insufficient_authentication"
	case errors.Is(err, ErrProviderUnavailable):
		return "provider_unavailable"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "internal"
	}
}
