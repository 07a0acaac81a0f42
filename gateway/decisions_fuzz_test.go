package gateway

import (
	"net/url"
	"testing"

	"github.com/portcullis/portcullis/store"
)

// FuzzDecisionFilter feeds arbitrary query strings to the GET /v1/decisions parser: it must
// never panic, and a filter it accepts must have a page size the store accepts.
func FuzzDecisionFilter(f *testing.F) {
	for _, seed := range []string{"", "subject=bob%40example.com&allow=false", "since=2026-11-24T09:00:00Z&until=2026-11-25T09:00:00Z",
		"limit=1000", "limit=-1", "allow=maybe", "reason=%25&host=db-1&cursor=abc", "since=yesterday"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := decisionFilter(q)
		if err != nil {
			return
		}
		if flt.Limit < 0 || flt.Limit > store.MaxDecisionLimit {
			t.Fatalf("accepted limit %d from %q", flt.Limit, raw)
		}
	})
}
