package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Code is a refusal's stable wire code ("denied", "expired", "wrong_session", ...). A Code is
// also the sentinel error of its refusal: return it wrapped with detail
// (fmt.Errorf("%w: ...", access.ErrExpired)), test for it with errors.Is, and map it to what a
// surface shows with HTTPStatus, ExitCode and Message. Every code has one row in the table of
// Code.row; adding a refusal is adding a constant and its row in this file.
type Code string

// Process exit codes of the CLI (sysexits.h where one fits); a refused remote command's own
// exit status passes through unchanged.
const (
	// ExitFailure is the exit code of an error that carries no refusal code.
	ExitFailure = 1
	// ExitBadRequest (EX_DATAERR): the request or the data exchanged was malformed.
	ExitBadRequest = 65
	// ExitNotFound (EX_NOINPUT): the named thing does not exist.
	ExitNotFound = 66
	// ExitUnauthenticated (EX_NOUSER): sign in again.
	ExitUnauthenticated = 67
	// ExitHostUnavailable (EX_NOHOST): the Host cannot be reached now.
	ExitHostUnavailable = 68
	// ExitUnavailable (EX_UNAVAILABLE): a service Portcullis needs is unavailable.
	ExitUnavailable = 69
	// ExitInternal (EX_SOFTWARE): a fault inside Portcullis.
	ExitInternal = 70
	// ExitConflict (EX_CANTCREAT): the thing to create exists already.
	ExitConflict = 73
	// ExitTryAgain (EX_TEMPFAIL): a busy or slow part; the same request may succeed later.
	ExitTryAgain = 75
	// ExitProtocol (EX_PROTOCOL): a credential, ticket or certificate failed verification.
	ExitProtocol = 76
	// ExitDenied (EX_NOPERM): the policy or the Host refused.
	ExitDenied = 77
	// ExitCanceled is the conventional status of a command stopped by the user (128 + SIGINT).
	ExitCanceled = 130
)

// Refusal codes. The table in Code.row gives each one's HTTP status, exit code and message.
const (
	// ErrDenied: the policy refused the request.
	ErrDenied Code = "denied"
	// ErrForbidden: the caller is authenticated but may not do this.
	ErrForbidden Code = "forbidden"
	// ErrUnauthenticated: the request carries no acceptable credential.
	ErrUnauthenticated Code = "unauthenticated"
	// ErrBadRequest: the request is malformed or names something invalid.
	ErrBadRequest Code = "bad_request"
	// ErrNotFound: the named thing does not exist.
	ErrNotFound Code = "not_found"
	// ErrConflict: the thing to create exists already.
	ErrConflict Code = "conflict"
	// ErrHostOffline: the Host is not connected to the CM.
	ErrHostOffline Code = "host_offline"
	// ErrHostNotAnswering: the Host did not collect the connection request before it expired.
	ErrHostNotAnswering Code = "host_not_answering"
	// ErrNoRelay: no healthy relay that the policy allows.
	ErrNoRelay Code = "no_relay"
	// ErrUnavailable: a part the answer needs (the store, the CM) is unavailable; fail closed.
	ErrUnavailable Code = "unavailable"
	// ErrInternal: a refusal that is none of the others.
	ErrInternal Code = "internal"

	// ErrMissingToken: no bearer ID token was sent.
	ErrMissingToken Code = "missing_token"
	// ErrCredentialRequired: the request has no client certificate bound to the signed-in user.
	ErrCredentialRequired Code = "credential_required"
	// ErrCredentialMismatch: the client certificate names another user than the ID token.
	ErrCredentialMismatch Code = "credential_mismatch"
	// ErrRelayCertRequired: a relay's call has no client certificate naming a relay
	// ("relay:<id>"), e.g. the relays' old shared certificate.
	ErrRelayCertRequired Code = "relay_certificate_required"
	// ErrUnknownRelay: the relay certificate is not one the CM accepts for that id (an enrolled
	// relay's certificate it did not issue, or an unmarked one for an id never enrolled).
	ErrUnknownRelay Code = "unknown_relay"
	// ErrWrongRelay: a relay's call names another relay than its certificate.
	ErrWrongRelay Code = "wrong_relay"
	// ErrTokenExchanged: the ID token was already exchanged for a credential.
	ErrTokenExchanged Code = "token_already_exchanged"
	// ErrStale: a signed message's time is too far from the receiver's clock.
	ErrStale Code = "stale"
	// ErrUnknownHost: no enrolled host has this id or certificate.
	ErrUnknownHost Code = "unknown_host"
	// ErrWrongIssuer: an ID token's iss claim is not the configured issuer.
	ErrWrongIssuer Code = "wrong_issuer"
	// ErrMissingClaim: a required claim of an ID token is absent or empty.
	ErrMissingClaim Code = "missing_claim"
	// ErrEmailNotVerified: email_verified is not true while the CM requires it.
	ErrEmailNotVerified Code = "email_not_verified"
	// ErrNonceMismatch: the ID token's nonce is not the one the client sent.
	ErrNonceMismatch Code = "nonce_mismatch"
	// ErrInsufficientAuth: the acr or amr claim does not meet the CM's requirement.
	ErrInsufficientAuth Code = "insufficient_authentication"
	// ErrProviderUnavailable: the identity provider could not be reached, so no token was verified.
	ErrProviderUnavailable Code = "provider_unavailable"
	// ErrCanceled: the caller gave up.
	ErrCanceled Code = "canceled"
	// ErrTimeout: the operation's deadline passed.
	ErrTimeout Code = "timeout"

	// ErrMalformed: a token, ticket or message cannot be decoded or lacks required fields.
	ErrMalformed Code = "malformed"
	// ErrBadSignature: a signature does not verify.
	ErrBadSignature Code = "bad_signature"
	// ErrUnknownKey: a ticket names a key the verifier does not hold.
	ErrUnknownKey Code = "unknown_key"
	// ErrExpired: a token, ticket or certificate is past its validity.
	ErrExpired Code = "expired"
	// ErrNotYetValid: a token, ticket or certificate is not valid yet.
	ErrNotYetValid Code = "not_yet_valid"
	// ErrWrongAudience: a token or ticket is for someone else.
	ErrWrongAudience Code = "wrong_audience"
	// ErrWrongRole: a ticket admits the other half of the session.
	ErrWrongRole Code = "wrong_role"
	// ErrReplayed: a ticket id or a signed heartbeat's counter was already used.
	ErrReplayed Code = "replayed"

	// ErrPairTimeout: the other half of the session did not reach the CS in time.
	ErrPairTimeout Code = "pair_timeout"
	// ErrDuplicateHalf: a half of the same role of the session is already at the CS.
	ErrDuplicateHalf Code = "duplicate_half"
	// ErrOverloaded: the CS holds its maximum of pending halves or remembered ticket ids.
	ErrOverloaded Code = "overloaded"
	// ErrShuttingDown: the CS is shutting down.
	ErrShuttingDown Code = "shutting_down"
	// ErrBadHello: the first frame at the CS was not a well-formed hello in time.
	ErrBadHello Code = "bad_hello"
	// ErrSourceBusy: the CS let a newer connection from the same network address take this
	// one's place, because the address holds the most unfinished handshakes and this one had
	// gone longest without progress.
	ErrSourceBusy Code = "source_busy"
	// ErrPlainLegsRefused: a half asked for relay legs without TLS, and its ticket's minimum
	// encryption level is not LevelFast.
	ErrPlainLegsRefused Code = "plain_legs_refused"

	// ErrNotCertificate: a plain public key where an SSH certificate is required.
	ErrNotCertificate Code = "not_certificate"
	// ErrNotUserCert: a host certificate offered as a user certificate.
	ErrNotUserCert Code = "not_user_certificate"
	// ErrWrongCA: a certificate signed by a key other than the CM's user CA.
	ErrWrongCA Code = "wrong_ca"
	// ErrCriticalOption: a certificate carries a critical option (none is supported).
	ErrCriticalOption Code = "critical_option"
	// ErrPrincipalCount: a certificate does not name exactly one principal.
	ErrPrincipalCount Code = "principal_count"
	// ErrPrincipalMismatch: the SSH user name differs from the certificate's principal.
	ErrPrincipalMismatch Code = "principal_mismatch"
	// ErrCertLifetime: a certificate's validity is longer than the CM ever signs.
	ErrCertLifetime Code = "lifetime"
	// ErrWrongSession: a certificate is for another session than the Host's ticket.
	ErrWrongSession Code = "wrong_session"
	// ErrChannelNotAllowed: a channel or request the session's obligations do not allow.
	ErrChannelNotAllowed Code = "channel_not_allowed"
	// ErrRequestRefused: a request the Host will not serve (malformed, out of order, unknown).
	ErrRequestRefused Code = "request_refused"
	// ErrHostRefused: one of the Host's own authorization schemes refused the session.
	ErrHostRefused Code = "host_refused"
	// ErrUnknownLevel: an encryption level name that is not one of the Level constants.
	ErrUnknownLevel Code = "unknown_level"
)

// row is one refusal's presentation on every surface.
type row struct {
	status  int    // HTTP status
	exit    int    // CLI exit code
	message string // human message, lower case, no trailing period
}

// row is THE table: every refusal code's HTTP status, exit code and human message.
func (c Code) row() (row, bool) {
	switch c {
	case ErrDenied:
		return row{403, ExitDenied, "denied by policy"}, true
	case ErrForbidden:
		return row{403, ExitDenied, "not allowed"}, true
	case ErrUnauthenticated:
		return row{401, ExitUnauthenticated, "not signed in, or the credential is not accepted"}, true
	case ErrBadRequest:
		return row{400, ExitBadRequest, "bad request"}, true
	case ErrNotFound:
		return row{404, ExitNotFound, "not found"}, true
	case ErrConflict:
		return row{409, ExitConflict, "already exists"}, true
	case ErrHostOffline:
		return row{409, ExitHostUnavailable, "the host is offline"}, true
	case ErrHostNotAnswering:
		return row{504, ExitHostUnavailable, "the host did not collect the connection request in time"}, true
	case ErrNoRelay:
		return row{503, ExitUnavailable, "no healthy relay that the policy allows"}, true
	case ErrUnavailable:
		return row{503, ExitUnavailable, "unavailable; refusing (fail closed)"}, true
	case ErrInternal:
		return row{500, ExitInternal, "internal error"}, true

	case ErrMissingToken:
		return row{401, ExitUnauthenticated, "no ID token was sent"}, true
	case ErrCredentialRequired:
		return row{401, ExitUnauthenticated, "a client certificate bound to the signed-in user is required"}, true
	case ErrCredentialMismatch:
		return row{401, ExitUnauthenticated, "the client certificate names another user"}, true
	case ErrRelayCertRequired:
		return row{401, ExitProtocol, "a client certificate naming this relay (relay:<id>) is required"}, true
	case ErrUnknownRelay:
		return row{401, ExitProtocol, "unknown relay, or not its certificate"}, true
	case ErrWrongRelay:
		return row{403, ExitDenied, "the relay certificate names another relay"}, true
	case ErrTokenExchanged:
		return row{401, ExitUnauthenticated, "the ID token was already exchanged for a credential"}, true
	case ErrStale:
		return row{401, ExitProtocol, "the message's time is too far from the receiver's clock"}, true
	case ErrUnknownHost:
		return row{401, ExitProtocol, "unknown host"}, true
	case ErrWrongIssuer:
		return row{401, ExitUnauthenticated, "wrong issuer"}, true
	case ErrMissingClaim:
		return row{401, ExitUnauthenticated, "missing claim"}, true
	case ErrEmailNotVerified:
		return row{401, ExitUnauthenticated, "email not verified"}, true
	case ErrNonceMismatch:
		return row{401, ExitUnauthenticated, "nonce mismatch"}, true
	case ErrInsufficientAuth:
		return row{401, ExitUnauthenticated, "insufficient authentication"}, true
	case ErrProviderUnavailable:
		return row{503, ExitUnavailable, "identity provider unavailable"}, true
	case ErrCanceled:
		return row{499, ExitCanceled, "canceled"}, true
	case ErrTimeout:
		return row{504, ExitTryAgain, "timed out"}, true

	case ErrMalformed:
		return row{400, ExitBadRequest, "malformed"}, true
	case ErrBadSignature:
		return row{401, ExitProtocol, "bad signature"}, true
	case ErrUnknownKey:
		return row{401, ExitProtocol, "unknown signing key"}, true
	case ErrExpired:
		return row{401, ExitUnauthenticated, "expired"}, true
	case ErrNotYetValid:
		return row{401, ExitProtocol, "not yet valid"}, true
	case ErrWrongAudience:
		return row{401, ExitProtocol, "wrong audience"}, true
	case ErrWrongRole:
		return row{401, ExitProtocol, "wrong role"}, true
	case ErrReplayed:
		return row{401, ExitProtocol, "replayed"}, true

	case ErrPairTimeout:
		return row{504, ExitTryAgain, "the other half of the session did not arrive in time"}, true
	case ErrDuplicateHalf:
		return row{409, ExitProtocol, "that half of the session is already present"}, true
	case ErrOverloaded:
		return row{503, ExitTryAgain, "overloaded"}, true
	case ErrShuttingDown:
		return row{503, ExitTryAgain, "shutting down"}, true
	case ErrBadHello:
		return row{400, ExitProtocol, "bad hello"}, true
	case ErrSourceBusy:
		return row{429, ExitTryAgain, "too many unfinished connections from this network address; this one was the slowest"}, true
	case ErrPlainLegsRefused:
		return row{403, ExitDenied, "the session's encryption level keeps TLS on the relay legs"}, true

	case ErrNotCertificate:
		return row{401, ExitProtocol, "key is not a certificate"}, true
	case ErrNotUserCert:
		return row{401, ExitProtocol, "certificate is not a user certificate"}, true
	case ErrWrongCA:
		return row{401, ExitProtocol, "certificate not signed by the user CA"}, true
	case ErrCriticalOption:
		return row{401, ExitProtocol, "certificate has an unsupported critical option"}, true
	case ErrPrincipalCount:
		return row{401, ExitProtocol, "certificate must name exactly one principal"}, true
	case ErrPrincipalMismatch:
		return row{401, ExitProtocol, "user name does not match the certificate principal"}, true
	case ErrCertLifetime:
		return row{401, ExitProtocol, "certificate lifetime is too long"}, true
	case ErrWrongSession:
		return row{401, ExitProtocol, "certificate is for another session"}, true
	case ErrChannelNotAllowed:
		return row{403, ExitDenied, "not allowed by the session's obligations"}, true
	case ErrRequestRefused:
		return row{400, ExitBadRequest, "request refused"}, true
	case ErrHostRefused:
		return row{403, ExitDenied, "refused by the Host"}, true
	case ErrUnknownLevel:
		return row{400, ExitBadRequest, "unknown encryption level"}, true
	}
	return row{}, false
}

// Known reports whether c is a code of the table.
func (c Code) Known() bool {
	_, ok := c.row()
	return ok
}

// Error returns the human message, so that a Code is the sentinel error of its refusal. Format
// a code for the wire with string(c).
func (c Code) Error() string { return c.Message() }

// LogValue logs the code itself, not its message.
func (c Code) LogValue() slog.Value { return slog.StringValue(string(c)) }

// Message returns the code's human message; an unknown code says so.
func (c Code) Message() string {
	if r, ok := c.row(); ok {
		return r.message
	}
	return fmt.Sprintf("unknown refusal %q", truncate(string(c)))
}

// HTTPStatus returns the HTTP status that answers the refusal (500 for an unknown code).
func (c Code) HTTPStatus() int {
	if r, ok := c.row(); ok {
		return r.status
	}
	return 500
}

// ExitCode returns the CLI exit code of the refusal (ExitInternal for an unknown code).
func (c Code) ExitCode() int {
	if r, ok := c.row(); ok {
		return r.exit
	}
	return ExitInternal
}

// maxCodeBytes bounds how much of an unknown code an error message repeats.
const maxCodeBytes = 32

// truncate bounds a peer-supplied code for messages and logs.
func truncate(s string) string {
	if len(s) > maxCodeBytes {
		return s[:maxCodeBytes] + "…"
	}
	return s
}

// Find returns the first refusal code in err's chain.
func Find(err error) (Code, bool) {
	var c Code
	if errors.As(err, &c) {
		return c, true
	}
	return "", false
}

// CodeOf returns the wire code of err: "" for nil, the first code in err's chain, ErrCanceled or
// ErrTimeout for a context's error, and ErrInternal for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if c, ok := Find(err); ok {
		return c
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	}
	return ErrInternal
}

// Parse returns the code a peer sent: the known code, or an error that wraps ErrInternal and
// names the unknown code (nil for "").
func Parse(s string) error {
	if s == "" {
		return nil
	}
	if c := Code(s); c.Known() {
		return c
	}
	return fmt.Errorf("%w: unknown refusal code %q", ErrInternal, truncate(s))
}

// ExitCode returns the process exit code for err: 0 for nil, the exit code of the first refusal
// code in its chain, ExitCanceled when the user canceled, and ExitFailure otherwise.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	if c, ok := Find(err); ok {
		return c.ExitCode()
	}
	if errors.Is(err, context.Canceled) {
		return ExitCanceled
	}
	return ExitFailure
}
