package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/api"
)

// sessionIDs returns n ids of the CM's form (ses_ and 32 hex digits).
func sessionIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ses_%032x", i)
	}
	return ids
}

// TestAnAnswerEndingAnyNumberOfSessionsFitsWhatAClientReads: a lock's and a re-evaluation's
// answers list at most MaxListedSessions ids each and count them all, so that however many
// sessions they end, a client reads the answer (api.Call refuses one over MaxResponseBytes).
func TestAnAnswerEndingAnyNumberOfSessionsFitsWhatAClientReads(t *testing.T) {
	for _, n := range []int{0, 1, api.MaxListedSessions, api.MaxListedSessions + 1, 100000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ids := sessionIDs(n)
			r := api.Reevaluation{Checked: 2 * n, Ended: ids, Warned: ids}.Bounded()
			wantListed := min(n, api.MaxListedSessions)
			cut := n > api.MaxListedSessions
			if r.EndedCount != n || r.WarnedCount != n || len(r.Ended) != wantListed || len(r.Warned) != wantListed ||
				r.Truncated != cut || !slices.Equal(r.Ended, ids[:wantListed]) {
				t.Errorf("bounded re-evaluation: %d and %d counted, %d and %d listed, truncated %v; want %d counted, %d listed, truncated %v",
					r.EndedCount, r.WarnedCount, len(r.Ended), len(r.Warned), r.Truncated, n, wantListed, cut)
			}
			var l api.Lock
			l.EndedSessions, l.EndedSessionsTruncated = api.ListedSessions(ids)
			if len(l.EndedSessions) != wantListed || l.EndedSessionsTruncated != cut {
				t.Errorf("lock lists %d, truncated %v; want %d, %v", len(l.EndedSessions), l.EndedSessionsTruncated, wantListed, cut)
			}
			for name, answer := range map[string]any{"re-evaluation": r, "lock": l} {
				if b, err := json.Marshal(answer); err != nil || len(b) > api.MaxResponseBytes/2 {
					t.Errorf("the %s's answer is %d bytes (%v), want at most half of %d", name, len(b), err, api.MaxResponseBytes)
				}
			}
		})
	}
}
