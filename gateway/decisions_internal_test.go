package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// A page of the decision log ends early, with the cursor of its last record, rather than
// exceed its byte budget; it keeps its first record whatever its size.
func TestBoundedPageEndsAPageBeforeItsBudget(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	records := func(n, inputBytes int) []store.Decision {
		ds := make([]store.Decision, n)
		for i := range ds {
			ds[i] = store.Decision{ID: fmt.Sprintf("dec-%03d", i), Time: t0.Add(-time.Duration(i) * time.Second),
				Input: json.RawMessage(`{"pad":"` + strings.Repeat("x", inputBytes) + `"}`), Result: json.RawMessage(`{}`)}
		}
		return ds
	}
	for _, tc := range []struct {
		name      string
		ds        []store.Decision
		next      string
		maxBytes  int
		wantCount int
		wantNext  string
	}{
		{"everything fits: the store's next stays", records(10, 100), "store-next", 1 << 20, 10, "store-next"},
		{"the last page fits: no next", records(10, 100), "", 1 << 20, 10, ""},
		{"cut after what fits", records(10, 1000), "store-next", 3500, 2, store.DecisionCursor(records(10, 1000)[1])},
		{"a record larger than the budget alone", records(3, 5000), "", 1000, 1, store.DecisionCursor(records(3, 5000)[0])},
		{"no records", nil, "", 1000, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := boundedPage(tc.ds, tc.next, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Decisions) != tc.wantCount || page.Next != tc.wantNext {
				t.Fatalf("page of %d records, next %q; want %d, %q", len(page.Decisions), page.Next, tc.wantCount, tc.wantNext)
			}
			b, _ := json.Marshal(page)
			if len(page.Decisions) > 1 && len(b) > tc.maxBytes+100 {
				t.Errorf("page of %d bytes, budget %d", len(b), tc.maxBytes)
			}
			for i, raw := range page.Decisions {
				var d struct {
					ID string `json:"decision_id"`
				}
				if err := json.Unmarshal(raw, &d); err != nil || d.ID != tc.ds[i].ID {
					t.Errorf("record %d = %s (%v), want %s", i, d.ID, err, tc.ds[i].ID)
				}
			}
		})
	}
}
