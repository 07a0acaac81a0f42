package identity

import (
	"errors"
	"fmt"
)

// ErrInvalidToken is wrapped by every refusal of an ID token, together with the refusal's code
// of package access (access.ErrMalformed, ErrBadSignature, ErrWrongIssuer, ErrWrongAudience,
// ErrExpired, ErrNotYetValid, ErrMissingClaim, ErrEmailNotVerified, ErrNonceMismatch or
// ErrInsufficientAuth) and a readable detail. access.CodeOf gives the code. A provider that
// cannot be reached gives access.ErrProviderUnavailable, which does not wrap ErrInvalidToken:
// the token was not looked at.
var ErrInvalidToken = errors.New("invalid ID token")

// refuse builds a refusal: ErrInvalidToken, the reason, and a readable detail.
func refuse(reason error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalidToken, reason, fmt.Sprintf(format, args...))
}
