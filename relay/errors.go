package relay

import (
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/access"
)

// The CS refuses a half with a code of package access: its own (access.ErrPairTimeout,
// ErrDuplicateHalf, ErrOverloaded, ErrShuttingDown, ErrBadHello, ErrSourceBusy) or the ticket's
// (access.ErrBadSignature, ErrExpired, ErrReplayed, ...); a full replay cache is reported as
// access.ErrOverloaded, one that cannot write its log as access.ErrUnavailable.

// Errors that are not refusals.
var (
	// ErrServerClosed is returned by Serve and ServeConn after Shutdown.
	ErrServerClosed = errors.New("relay: server closed")
	// ErrProtocol means the CS answered a client with something the protocol does not allow.
	ErrProtocol = errors.New("relay: protocol violation")
	// errProbe marks a connection closed before it sent a byte: a latency probe (a TCP
	// connect timed by a Guest or Host), counted apart from refusals.
	errProbe = errors.New("relay: closed before the TLS handshake (latency probe)")
)

// refusalCode returns the wire code for a refusal error, or "" when err carries no refusal code
// (a transport failure).
func refusalCode(err error) access.Code {
	c, _ := access.Find(err)
	return c
}

// RefusedError is the error a client gets when the CS refuses its half. It unwraps to the code
// (an access.Err…), so errors.Is(err, access.ErrExpired) works on it.
type RefusedError struct {
	// Code is the reason code the CS sent.
	Code string
}

// Error returns the refusal with its code and reason.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("relay: refused by connection server (%s): %v", e.Code, access.Parse(e.Code))
}

// Unwrap returns the code's error.
func (e *RefusedError) Unwrap() error { return access.Parse(e.Code) }
