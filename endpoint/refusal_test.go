package endpoint

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/access"
)

func TestParseRefusal(t *testing.T) {
	for _, code := range []access.Code{access.ErrExpired, access.ErrWrongSession, access.ErrChannelNotAllowed, access.ErrHostRefused, access.ErrPrincipalMismatch} {
		line := RefusalLine(fmt.Errorf("%w: details", code))
		got, ok := ParseRefusal("banner text\n" + line)
		if !ok || got.Code != string(code) || !errors.Is(got, code) || !strings.HasSuffix(got.Message, ": details") {
			t.Errorf("ParseRefusal(%q) = %+v, %v", line, got, ok)
		}
	}
	tests := []struct {
		name string
		text string
		ok   bool
		want string
	}{
		{"no refusal", "welcome\n", false, ""},
		{"no separator", RefusalPrefix + "expired\n", false, ""},
		{"bad code", RefusalPrefix + "Expired!: x\n", false, ""},
		{"escape sequences", RefusalPrefix + "expired: \x1b[2Jgone\x07\r\n", true, "[2Jgone"},
		{"unknown code", RefusalPrefix + "future_reason: later\n", true, "later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRefusal(tt.text)
			if ok != tt.ok || (ok && got.Message != tt.want) {
				t.Fatalf("ParseRefusal = %+v, %v", got, ok)
			}
		})
	}
	if (&RefusedError{Code: "future_reason"}).Unwrap() != nil {
		t.Error("an unknown code unwraps to a sentinel")
	}
}

func FuzzParseRefusal(f *testing.F) {
	for _, code := range []access.Code{access.ErrExpired, access.ErrWrongSession, access.ErrHostRefused} {
		f.Add(RefusalLine(code))
	}
	f.Add(RefusalPrefix + "expired: " + strings.Repeat("é", MaxRefusalBytes))
	f.Add("\xff" + RefusalPrefix + "x: \x00\x1b")
	f.Fuzz(func(t *testing.T, text string) {
		got, ok := ParseRefusal(text)
		if !ok {
			return
		}
		if !validRefusalCode(got.Code) {
			t.Fatalf("code %q", got.Code)
		}
		if len(got.Message) > MaxRefusalBytes || !utf8.ValidString(got.Message) ||
			strings.ContainsFunc(got.Message, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("unsafe message %q", got.Message)
		}
	})
}
