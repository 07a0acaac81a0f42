package store

import (
	"errors"
	"testing"
	"time"
)

// TestCursorRoundTrip checks that cursors carry (time, id) exactly.
func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []struct {
		t  time.Time
		id string
	}{
		{at(0), "d-1"},
		{time.Unix(0, 0).UTC(), "x"},
		{at(-1000 * time.Hour), "ünïcode/\"quoted\""},
	} {
		gotT, gotID, err := decodeCursor(encodeCursor(c.t, c.id))
		if err != nil || !gotT.Equal(c.t) || gotID != c.id {
			t.Errorf("round trip (%v, %q) = (%v, %q), %v", c.t, c.id, gotT, gotID, err)
		}
	}
}

// TestContainsPattern checks the escaping of LIKE patterns.
func TestContainsPattern(t *testing.T) {
	for in, want := range map[string]string{
		"MFA":       "%MFA%",
		"100%":      "%100!%%",
		"a_b":       "%a!_b%",
		"wow!":      "%wow!!%",
		`say "hi"`:  `%say \"hi\"%`,
		"<b> & ø":   "%<b> & ø%",
		`back\path`: `%back\\path%`,
	} {
		got, err := containsPattern(in)
		if err != nil || got != want {
			t.Errorf("containsPattern(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzDecodeCursor feeds arbitrary cursors (they come from API callers): decoding never panics,
// refuses with ErrInvalid, and whatever it accepts re-encodes to an equivalent cursor.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(at(0), "d-1"))
	f.Add("")
	f.Add("e30")
	f.Add("eyJ0IjoxLCJpZCI6IngiLCJ6IjoxfQ")
	f.Fuzz(func(t *testing.T, s string) {
		ts, id, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeCursor(%q): %v, not ErrInvalid", s, err)
			}
			return
		}
		ts2, id2, err := decodeCursor(encodeCursor(ts, id))
		if err != nil || !ts2.Equal(ts) || id2 != id {
			t.Fatalf("re-encoded cursor of %q: (%v, %q), %v; want (%v, %q)", s, ts2, id2, err, ts, id)
		}
	})
}
