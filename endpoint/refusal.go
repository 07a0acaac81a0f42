package endpoint

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/access"
)

// The refusal line is how the Host tells the Guest why it refused, in one line of text:
//
//	"portcullis refused " code ": " human-readable message "\r\n"
//
// The Host sends it as the banner of a refused authentication, or on a channel's stderr before
// it answers a refused request (the channel is then closed, so the Guest reads the line up to
// EOF). code is an access.Code; the Guest turns the line back into a *RefusedError.
const (
	// RefusalPrefix starts every refusal line.
	RefusalPrefix = "portcullis refused "
	// MaxRefusalBytes bounds a refusal message and any other text from the Host that the Guest
	// prints (the Guest reads at most this much of it).
	MaxRefusalBytes = 1 << 10
	// maxRefusalCodeBytes bounds a refusal code on the wire.
	maxRefusalCodeBytes = 32
)

// RefusalLine formats err as the refusal line the Host sends the Guest: its wire code
// (access.CodeOf) and its message.
func RefusalLine(err error) string {
	return RefusalPrefix + string(access.CodeOf(err)) + ": " + err.Error() + "\r\n"
}

// RefusedError is a refusal the Host sent the Guest. It unwraps to the refusal's sentinel error
// (access.ErrExpired, access.ErrWrongSession, access.ErrChannelNotAllowed, ...) so errors.Is
// works on both ends.
type RefusedError struct {
	// Code is the refusal's wire code (an access.Code).
	Code string
	// Message is the Host's explanation, stripped of control characters.
	Message string
}

// Error returns the code and the Host's explanation.
func (e *RefusedError) Error() string {
	return "host refused (" + e.Code + "): " + e.Message
}

// Unwrap returns the sentinel error of the code, or nil for a code this version does not know.
func (e *RefusedError) Unwrap() error {
	if c := access.Code(e.Code); c.Known() {
		return c
	}
	return nil
}

// ParseRefusal finds the first refusal line in text sent by the Host; its message is made safe
// to print (Sanitize).
func ParseRefusal(text string) (*RefusedError, bool) {
	_, rest, ok := strings.Cut(text, RefusalPrefix)
	if !ok {
		return nil, false
	}
	line, _, _ := strings.Cut(rest, "\n")
	code, msg, ok := strings.Cut(line, ": ")
	if !ok || !validRefusalCode(code) {
		return nil, false
	}
	return &RefusedError{Code: code, Message: Sanitize(msg)}, true
}

// validRefusalCode reports whether code looks like a refusal code: lower case and underscores.
func validRefusalCode(code string) bool {
	return code != "" && len(code) <= maxRefusalCodeBytes &&
		!strings.ContainsFunc(code, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' })
}

// Sanitize makes text from the Host safe to print on the Guest's terminal: valid UTF-8, no
// control characters (no terminal escape sequences), at most MaxRefusalBytes.
func Sanitize(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.ToValidUTF8(text, ""))
	if len(text) > MaxRefusalBytes {
		cut := MaxRefusalBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	return strings.TrimSpace(text)
}
