package gateway

import (
	"encoding/hex"
	"regexp"
	"testing"
	"time"
)

var idPattern = regexp.MustCompile(`^dec_[0-9a-f]{32}$`)

func TestNewIDsSortByTimeAndStayUnguessable(t *testing.T) {
	base := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		earlier, later time.Time
	}{
		{"one millisecond apart", base, base.Add(time.Millisecond)},
		{"one second apart", base, base.Add(time.Second)},
		{"across a carry of the low byte", base.Add(255 * time.Millisecond), base.Add(256 * time.Millisecond)},
		{"years apart", base, base.AddDate(30, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 { // the random part must never overturn the time order
				a, b := newIDAt("dec", tt.earlier), newIDAt("dec", tt.later)
				if a >= b {
					t.Fatalf("id at %v = %s, not before the id at %v = %s", tt.earlier, a, tt.later, b)
				}
			}
		})
	}

	id := newIDAt("dec", base)
	if !idPattern.MatchString(id) {
		t.Fatalf("id %q does not match %s", id, idPattern)
	}
	raw, err := hex.DecodeString(id[len("dec_"):])
	if err != nil {
		t.Fatal(err)
	}
	var ms int64
	for _, c := range raw[:6] {
		ms = ms<<8 | int64(c)
	}
	if ms != base.UnixMilli() {
		t.Fatalf("id %s carries %d ms, want %d", id, ms, base.UnixMilli())
	}

	seen := map[string]bool{}
	for range 10_000 { // the same millisecond: the 80 random bits alone tell them apart
		id := newIDAt("dec", base)
		if seen[id] {
			t.Fatalf("id %s made twice in one millisecond", id)
		}
		seen[id] = true
	}
}
