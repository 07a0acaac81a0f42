package relay

import (
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/ticket"
)

// Refusal codes of the relay itself. A refused half also sees every ticket code of package
// ticket (ticket.Code): "bad_signature", "unknown_key", "expired", "not_yet_valid",
// "wrong_audience", "wrong_role", "malformed", "replayed", "internal".
const (
	// CodePairTimeout: the other half of the session did not arrive within the pairing timeout.
	CodePairTimeout = "pair_timeout"
	// CodeDuplicateHalf: a half of the same role (or both halves) of the session is already present.
	CodeDuplicateHalf = "duplicate_half"
	// CodeOverloaded: the CS holds its maximum of pending halves (or of remembered ticket ids).
	CodeOverloaded = "overloaded"
	// CodeShuttingDown: the CS is shutting down.
	CodeShuttingDown = "shutting_down"
	// CodeBadHello: the first frame was not a well-formed hello in time.
	CodeBadHello = "bad_hello"
)

// Sentinel errors of the relay's refusal codes, checked with errors.Is.
var (
	// ErrPairTimeout is the error of CodePairTimeout.
	ErrPairTimeout = errors.New("relay: the other half of the session did not arrive in time")
	// ErrDuplicateHalf is the error of CodeDuplicateHalf.
	ErrDuplicateHalf = errors.New("relay: that half of the session is already present")
	// ErrOverloaded is the error of CodeOverloaded.
	ErrOverloaded = errors.New("relay: connection server overloaded")
	// ErrShuttingDown is the error of CodeShuttingDown.
	ErrShuttingDown = errors.New("relay: connection server shutting down")
	// ErrBadHello is the error of CodeBadHello.
	ErrBadHello = errors.New("relay: bad hello")
)

// Other sentinel errors.
var (
	// ErrServerClosed is returned by Serve and ServeConn after Shutdown.
	ErrServerClosed = errors.New("relay: server closed")
	// ErrProtocol means the CS answered a client with something the protocol does not allow.
	ErrProtocol = errors.New("relay: protocol violation")
)

// relayRefusal pairs a relay sentinel with its wire code.
type relayRefusal struct {
	err  error
	code string
}

// relayRefusals maps the relay's own refusal reasons to their wire codes, in one place.
func relayRefusals() []relayRefusal {
	return []relayRefusal{
		{ErrPairTimeout, CodePairTimeout},
		{ErrDuplicateHalf, CodeDuplicateHalf},
		{ErrOverloaded, CodeOverloaded},
		{ErrShuttingDown, CodeShuttingDown},
		{ErrBadHello, CodeBadHello},
	}
}

// refusalCode returns the wire code for a refusal error: a relay code, a ticket code, or ""
// when err is neither (a transport failure). A full replay cache is reported as overloaded.
func refusalCode(err error) string {
	for _, r := range relayRefusals() {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	if errors.Is(err, ticket.ErrReplayCacheFull) {
		return CodeOverloaded
	}
	if code := ticket.Code(err); code != ticket.CodeInternal {
		return code
	}
	return ""
}

// errorForCode is the inverse of refusalCode, for clients: the relay sentinel for a relay code,
// ticket.ErrorForCode otherwise.
func errorForCode(code string) error {
	for _, r := range relayRefusals() {
		if r.code == code {
			return r.err
		}
	}
	return ticket.ErrorForCode(code)
}

// RefusedError is the error a client gets when the CS refuses its half. It unwraps to the
// sentinel of its code (a relay Err… or a ticket.Err…), so errors.Is(err, ticket.ErrExpired)
// works on it.
type RefusedError struct {
	// Code is the reason code the CS sent.
	Code string
}

// Error returns the refusal with its code and reason.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("relay: refused by connection server (%s): %v", e.Code, errorForCode(e.Code))
}

// Unwrap returns the sentinel error of the code.
func (e *RefusedError) Unwrap() error { return errorForCode(e.Code) }
