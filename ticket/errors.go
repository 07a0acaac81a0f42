package ticket

import (
	"errors"
	"fmt"
)

// Refusal reasons. Verify wraps exactly one of them; check with errors.Is and map to the wire
// with Code.
var (
	// ErrBadSignature means the signature does not verify under the named key.
	ErrBadSignature = errors.New("ticket: bad signature")
	// ErrUnknownKey means the key id names no key in the KeySet.
	ErrUnknownKey = errors.New("ticket: unknown key")
	// ErrExpired means the ticket's expiry has passed.
	ErrExpired = errors.New("ticket: expired")
	// ErrNotYetValid means the ticket's not-before time is still ahead.
	ErrNotYetValid = errors.New("ticket: not yet valid")
	// ErrWrongAudience means the ticket is for another Connection Server.
	ErrWrongAudience = errors.New("ticket: wrong audience")
	// ErrWrongRole means the ticket admits the other half of the session.
	ErrWrongRole = errors.New("ticket: wrong role")
	// ErrMalformed means the ticket cannot be decoded or lacks required claims.
	ErrMalformed = errors.New("ticket: malformed")
	// ErrReplayed means the ticket id was already used.
	ErrReplayed = errors.New("ticket: replayed")
	// ErrReplayCacheFull means the replay cache holds MaxReplayEntries unexpired ids and refuses
	// new ones rather than forget any (fail closed). Its code is "internal".
	ErrReplayCacheFull = errors.New("ticket: replay cache full")
	// ErrInternal stands for a refusal that is none of the above (code "internal").
	ErrInternal = errors.New("ticket: internal error")
)

// CodeInternal is the wire code of any error that is not a known refusal reason.
const CodeInternal = "internal"

// refusal pairs a refusal reason with its wire code.
type refusal struct {
	err  error
	code string
}

// refusals maps each refusal reason to its wire code, in one place.
func refusals() []refusal {
	return []refusal{
		{ErrBadSignature, "bad_signature"},
		{ErrUnknownKey, "unknown_key"},
		{ErrExpired, "expired"},
		{ErrNotYetValid, "not_yet_valid"},
		{ErrWrongAudience, "wrong_audience"},
		{ErrWrongRole, "wrong_role"},
		{ErrMalformed, "malformed"},
		{ErrReplayed, "replayed"},
	}
}

// Code returns the wire code of err: "" for nil, the reason's code for a refusal reason,
// "internal" otherwise.
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range refusals() {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}

// ErrorForCode is the inverse of Code, for clients: nil for "", the sentinel for a known code,
// and an error wrapping ErrInternal for "internal" or any unknown code.
func ErrorForCode(code string) error {
	if code == "" {
		return nil
	}
	for _, c := range refusals() {
		if c.code == code {
			return c.err
		}
	}
	if code == CodeInternal {
		return ErrInternal
	}
	return fmt.Errorf("%w: unknown refusal code %q", ErrInternal, truncate(code))
}
