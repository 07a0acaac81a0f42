package gateway

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseParams feeds arbitrary query strings to the API's query parser: it must never
// panic, a query it accepts holds only the parameters taken, each once, and what a record
// keeps of the query is bounded valid UTF-8.
func FuzzParseParams(f *testing.F) {
	for _, seed := range []string{"", "user=bob", "subject=a&subject=b", "limit=abc", "%zz", "a=1&b=2&=3", ";", strings.Repeat("x=", 400)} {
		f.Add(seed)
	}
	takes := []string{"subject", "limit", "all"}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/v1/decisions", nil)
		r.URL.RawQuery = raw
		q, err := parseParams(r, takes...)
		if err == nil {
			for name, vs := range q {
				if !slices.Contains(takes, name) || len(vs) != 1 {
					t.Fatalf("accepted %q from %q", name, raw)
				}
			}
		}
		if b := bounded(raw); len(b) > maxLabelBytes+len("…") || !utf8.ValidString(b) {
			t.Fatalf("bounded(%q) = %q", raw, b)
		}
	})
}
