package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDecisionRoundTrip: every field survives; ids are unique; bad input is refused.
func testDecisionRoundTrip(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	d := Decision{
		ID: "dec-1", Time: t0, Path: "/v1/connect", Subject: "alice@example.com", HostID: "id-db-1", HostName: "db-1",
		Allow: false, Reasons: []string{"MFA is required for production", `quote " and <tag> & ø`},
		Input:    json.RawMessage(`{"subject":{"id":"alice@example.com","groups":["ops"]},"request":{"action":"connect"}}`),
		Result:   json.RawMessage(`{"allow":false,"reasons":["MFA is required for production"]}`),
		Revision: "sha256:abc", EvalNS: 123456, Labels: map[string]string{"cm": "cm-1"},
		Erased: []string{"/input/subject/email", "/result/reasons/0"}, Masked: []string{"/input/context/ip"},
		Bundles: map[string]string{"portcullis": "sha256:abc"}, RequestedBy: "192.0.2.7:51234", ReqID: 1 << 40,
	}
	if err := db.InsertDecision(ctx, d); err != nil {
		t.Fatalf("InsertDecision: %v", err)
	}
	got, err := db.GetDecision(ctx, "dec-1")
	if err != nil {
		t.Fatalf("GetDecision: %v", err)
	}
	want := d
	want.Time = at(0)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetDecision = %+v\nwant %+v", got, want)
	}
	if _, err := db.GetDecision(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown decision: err = %v, want ErrNotFound", err)
	}
	bad := []struct {
		name string
		d    Decision
		want error
	}{
		{"duplicate id", Decision{ID: "dec-1", Time: t0}, ErrConflict},
		{"no id", Decision{Time: t0}, ErrInvalid},
		{"no time", Decision{ID: "dec-2"}, ErrInvalid},
		{"input not JSON", Decision{ID: "dec-3", Time: t0, Input: json.RawMessage(`{"a":`)}, ErrInvalid},
		{"result not JSON", Decision{ID: "dec-4", Time: t0, Result: json.RawMessage(`nope`)}, ErrInvalid},
		{"req_id out of range", Decision{ID: "dec-6", Time: t0, ReqID: 1 << 63}, ErrInvalid},
	}
	for _, b := range bad {
		if err := db.InsertDecision(ctx, b.d); !errors.Is(err, b.want) {
			t.Errorf("insert decision with %s: err = %v, want %v", b.name, err, b.want)
		}
	}
	minimal := Decision{ID: "dec-5", Time: t0}
	if err := db.InsertDecision(ctx, minimal); err != nil {
		t.Fatalf("insert minimal decision: %v", err)
	}
	if got, err := db.GetDecision(ctx, "dec-5"); err != nil || !reflect.DeepEqual(got, Decision{ID: "dec-5", Time: at(0)}) {
		t.Fatalf("minimal decision = %+v, %v", got, err)
	}
}

// decisionReasons are the reason lists the generated decisions cycle through.
func decisionReasons() [][]string {
	return [][]string{
		{"allowed by ops rule"},
		{"MFA is required for production"},
		{"outside working hours 08:00-18:00 Europe/Copenhagen", "contractors: weekdays only"},
		{"quota 100% used", `see <policy> & "docs"`},
		nil,
	}
}

// makeDecisions returns n decisions, five per timestamp, whose ids do not follow time order.
func makeDecisions(n int) []Decision {
	subjects := []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	hosts := []string{"id-db-1", "id-web-1"}
	names := map[string]string{"id-db-1": "db-1", "id-web-1": "web-1"}
	reasons := decisionReasons()
	ds := make([]Decision, n)
	for i := range ds {
		ds[i] = Decision{
			ID:   fmt.Sprintf("d-%03d", (i*37)%n),
			Time: at(time.Duration(i/5) * time.Second), Path: "/v1/connect",
			Subject: subjects[i%len(subjects)], HostID: hosts[i%len(hosts)], HostName: names[hosts[i%len(hosts)]], Allow: i%4 != 0,
			Reasons: reasons[i%len(reasons)], Input: json.RawMessage(`{}`), Result: json.RawMessage(`{}`),
		}
	}
	return ds
}

// insertAll inserts ds in order.
func insertAll(t *testing.T, db *DB, ds []Decision) {
	t.Helper()
	for _, d := range ds {
		if err := db.InsertDecision(context.Background(), d); err != nil {
			t.Fatalf("InsertDecision %s: %v", d.ID, err)
		}
	}
}

// matches is the reference semantics of DecisionFilter (without paging).
func matches(d Decision, f DecisionFilter) bool {
	reasonOK := f.Reason == "" || slices.ContainsFunc(d.Reasons, func(r string) bool {
		return strings.Contains(strings.ToLower(r), strings.ToLower(f.Reason))
	})
	return (f.Subject == "" || d.Subject == f.Subject) &&
		(f.HostID == "" || d.HostID == f.HostID) &&
		(f.HostName == "" || d.HostName == f.HostName) &&
		(f.Allow == nil || d.Allow == *f.Allow) &&
		(f.Since.IsZero() || !d.Time.Before(f.Since)) &&
		(f.Until.IsZero() || d.Time.Before(f.Until)) &&
		reasonOK
}

// expectedIDs are the ids f selects from ds, newest first, ties by id descending.
func expectedIDs(ds []Decision, f DecisionFilter) []string {
	var sel []Decision
	for _, d := range ds {
		if matches(d, f) {
			sel = append(sel, d)
		}
	}
	slices.SortFunc(sel, func(a, b Decision) int {
		return cmp.Or(b.Time.Compare(a.Time), strings.Compare(b.ID, a.ID))
	})
	ids := make([]string, len(sel))
	for i, d := range sel {
		ids[i] = d.ID
	}
	return ids
}

// pageAll follows the cursors from the first page to the last and returns the ids in order.
func pageAll(t *testing.T, db *DB, f DecisionFilter) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		ds, next, err := db.ListDecisions(context.Background(), f)
		if err != nil {
			t.Fatalf("ListDecisions page %d: %v", page, err)
		}
		if f.Limit > 0 && len(ds) > f.Limit {
			t.Fatalf("page %d has %d decisions, limit %d", page, len(ds), f.Limit)
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		if next == "" {
			return ids
		}
		if len(ds) == 0 {
			t.Fatalf("page %d is empty but has a next cursor", page)
		}
		f.After = next
	}
}

// testDecisionFilters: each filter, alone and combined, selects exactly the reference set, in
// order, on one page and across small pages.
func testDecisionFilters(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ds := makeDecisions(60)
	insertAll(t, db, ds)
	filters := []struct {
		name string
		f    DecisionFilter
		want int // how many the reference selects, to keep the table honest
	}{
		{"none", DecisionFilter{}, 60},
		{"subject", DecisionFilter{Subject: "bob@example.com"}, 20},
		{"host", DecisionFilter{HostID: "id-db-1"}, 30},
		{"host name", DecisionFilter{HostName: "web-1"}, 30},
		{"subject and host name", DecisionFilter{Subject: "bob@example.com", HostName: "web-1"}, 10},
		{"denied", DecisionFilter{Allow: ptr(false)}, 15},
		{"allowed", DecisionFilter{Allow: ptr(true)}, 45},
		{"since (inclusive)", DecisionFilter{Since: at(3 * time.Second)}, 45},
		{"until (exclusive)", DecisionFilter{Until: at(5 * time.Second)}, 25},
		{"since and until", DecisionFilter{Since: at(3 * time.Second), Until: at(5 * time.Second)}, 10},
		{"reason, any case", DecisionFilter{Reason: "mfa is REQUIRED"}, 12},
		{"reason in a later element", DecisionFilter{Reason: "weekdays"}, 12},
		{"reason with percent", DecisionFilter{Reason: "100% used"}, 12},
		{"percent is not a wildcard", DecisionFilter{Reason: "1%used"}, 0},
		{"underscore is not a wildcard", DecisionFilter{Reason: "MFA_is"}, 0},
		{"reason with quotes", DecisionFilter{Reason: `"docs"`}, 12},
		{"reason with HTML characters", DecisionFilter{Reason: "<policy> &"}, 12},
		{"no reason matches across elements", DecisionFilter{Reason: `Copenhagen","contractors`}, 0},
		{"subject, denied, reason", DecisionFilter{Subject: "alice@example.com", Allow: ptr(false), Reason: "ops rule"}, 1},
		{"nothing", DecisionFilter{Subject: "mallory@example.com"}, 0},
	}
	for _, c := range filters {
		want := expectedIDs(ds, c.f)
		if len(want) != c.want {
			t.Fatalf("%s: reference selects %d, table says %d", c.name, len(want), c.want)
		}
		if got := pageAll(t, db, c.f); !slices.Equal(got, want) {
			t.Errorf("%s, one page:\n got %v\nwant %v", c.name, got, want)
		}
		small := c.f
		small.Limit = 7
		if got := pageAll(t, db, small); !slices.Equal(got, want) {
			t.Errorf("%s, pages of 7:\n got %v\nwant %v", c.name, got, want)
		}
	}
}

// testDecisionPagination: pages of every size cover the log exactly once, in order, even across
// equal timestamps and while newer decisions arrive; a foreign cursor is refused.
func testDecisionPagination(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	ds := makeDecisions(23)
	insertAll(t, db, ds)
	want := expectedIDs(ds, DecisionFilter{})
	for _, limit := range []int{1, 2, 5, 22, 23, 24} {
		if got := pageAll(t, db, DecisionFilter{Limit: limit}); !slices.Equal(got, want) {
			t.Errorf("pages of %d:\n got %v\nwant %v", limit, got, want)
		}
	}

	first, next, err := db.ListDecisions(ctx, DecisionFilter{Limit: 4})
	if err != nil || len(first) != 4 || next == "" {
		t.Fatalf("first page: %d decisions, next %q, err %v", len(first), next, err)
	}
	insertAll(t, db, []Decision{{ID: "new-1", Time: at(time.Hour)}, {ID: "new-2", Time: at(time.Hour)}})
	rest := pageAll(t, db, DecisionFilter{Limit: 4, After: next})
	var got []string
	for _, d := range first {
		got = append(got, d.ID)
	}
	if got = append(got, rest...); !slices.Equal(got, want) {
		t.Fatalf("pages while newer decisions arrive:\n got %v\nwant %v", got, want)
	}

	for _, c := range []string{"not base64!", "e30", "eyJ0IjoxfQ", strings.Repeat("A", maxCursorLen+1)} {
		if _, _, err := db.ListDecisions(ctx, DecisionFilter{After: c}); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %.20q: err = %v, want ErrInvalid", c, err)
		}
	}
}

// testConcurrentInserts: decisions inserted from many goroutines are all committed.
func testConcurrentInserts(t *testing.T, dsn string) {
	const writers, each = 16, 16
	ctx := context.Background()
	db := openStore(t, dsn)
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- db.InsertDecision(ctx, Decision{
					ID: fmt.Sprintf("w%02d-%02d", w, i), Time: at(time.Duration(i) * time.Millisecond),
					Subject: fmt.Sprintf("user%d@example.com", w), Allow: true, Reasons: []string{"ok"},
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent InsertDecision: %v", err)
		}
	}
	ids := pageAll(t, db, DecisionFilter{Limit: MaxDecisionLimit})
	if len(ids) != writers*each {
		t.Fatalf("%d decisions committed, want %d", len(ids), writers*each)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("decision %s listed twice", id)
		}
		seen[id] = true
	}
}
