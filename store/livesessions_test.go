package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// createSessions inserts ss concurrently, so that group commit batches them.
func createSessions(t *testing.T, db *DB, ss []Session) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(ss))
	sem := make(chan struct{}, 256)
	for _, s := range ss {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := db.CreateSession(context.Background(), s); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("CreateSession: %v", err)
	}
}

// makeLiveSessions returns n sessions over three subjects, two hosts and two relays, five
// starting at each second (equal started_at), every seventh one ended.
func makeLiveSessions(n int) []Session {
	subjects := []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	ss := make([]Session, n)
	for i := range ss {
		ss[i] = Session{
			ID: fmt.Sprintf("s-%05d", (i*7919)%n), DecisionID: "d", Subject: subjects[i%3],
			HostID: []string{"id-db-1", "id-web-1"}[i%2], RelayID: []string{"cs-eu-1", "cs-us-1"}[i%5%2],
			StartedAt: at(time.Duration(i/5) * time.Second),
		}
		if i%7 == 3 {
			ss[i].EndedAt = ptr(at(time.Hour))
		}
	}
	return ss
}

// testEachLiveSession: every live session a filter selects is visited exactly once, oldest
// first, across pages and equal start times, also while the walk ends what it visits.
func testEachLiveSession(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	all := makeLiveSessions(3*LivePageSize + 17)
	createSessions(t, db, all)
	cases := []struct {
		name  string
		f     LiveFilter
		keep  func(Session) bool
		endIt bool
	}{
		{"all", LiveFilter{}, func(Session) bool { return true }, false},
		{"subject", LiveFilter{Subject: "bob@example.com"}, func(s Session) bool { return s.Subject == "bob@example.com" }, false},
		{"host", LiveFilter{HostID: "id-web-1"}, func(s Session) bool { return s.HostID == "id-web-1" }, false},
		{"relay", LiveFilter{RelayID: "cs-us-1"}, func(s Session) bool { return s.RelayID == "cs-us-1" }, false},
		{"started until, inclusive", LiveFilter{RelayID: "cs-eu-1", StartedUntil: at(100 * time.Second)}, func(s Session) bool {
			return s.RelayID == "cs-eu-1" && !s.StartedAt.After(at(100*time.Second))
		}, false},
		{"none", LiveFilter{Subject: "nobody"}, func(Session) bool { return false }, false},
		{"ending each as it goes", LiveFilter{Subject: "alice@example.com"}, func(s Session) bool { return s.Subject == "alice@example.com" }, true},
	}
	for _, c := range cases {
		var want []Session
		for _, s := range all {
			if s.EndedAt == nil && c.keep(s) {
				want = append(want, s)
			}
		}
		slices.SortFunc(want, compareStart)
		var got []string
		err := db.EachLiveSession(ctx, c.f, func(s Session) error {
			got = append(got, s.ID)
			if c.endIt {
				return db.EndSession(ctx, s.ID, at(2*time.Hour), 0, 0, "locked")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: EachLiveSession: %v", c.name, err)
		}
		wantIDs := make([]string, len(want))
		for i, s := range want {
			wantIDs[i] = s.ID
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("%s: visited %d sessions, want %d, each once, oldest first", c.name, len(got), len(wantIDs))
		}
	}
	if err := db.EachLiveSession(ctx, LiveFilter{Subject: "alice@example.com"}, func(s Session) error {
		return fmt.Errorf("live after the walk ended it: %s", s.ID)
	}); err != nil {
		t.Error(err)
	}
	stop := errors.New("stop")
	n := 0
	err := db.EachLiveSession(ctx, LiveFilter{}, func(Session) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn's error: got %v after %d calls, want it after 1", err, n)
	}
}

// testEndSessionsByPage: a walk that ends each page with EndSessions ends every session it
// selects, across pages, and nobody else's; an end already recorded keeps its reason.
func testEndSessionsByPage(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	all := makeLiveSessions(2*LivePageSize + 7)
	createSessions(t, db, all)
	var first string
	for _, s := range all {
		if s.Subject == "bob@example.com" && s.EndedAt == nil {
			first = s.ID
			break
		}
	}
	if err := db.EndSession(ctx, first, at(time.Hour), 0, 0, "closed"); err != nil {
		t.Fatal(err)
	}
	pages := 0
	err := db.EachLiveSessionPage(ctx, LiveFilter{Subject: "bob@example.com"}, func(page []Session) error {
		pages++
		ids := make([]string, len(page))
		for i, s := range page {
			ids[i] = s.ID
		}
		return db.EndSessions(ctx, append(ids, first), at(2*time.Hour), "locked: offboarding")
	})
	if err != nil || pages == 0 {
		t.Fatalf("EachLiveSessionPage: %d pages, %v", pages, err)
	}
	live := map[string]int{}
	if err := db.EachLiveSession(ctx, LiveFilter{}, func(s Session) error { live[s.Subject]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if live["bob@example.com"] != 0 || live["alice@example.com"] == 0 {
		t.Errorf("live after ending bob's sessions: %v; want none of bob's and alice's untouched", live)
	}
	if s, err := db.GetSession(ctx, first); err != nil || s.EndReason != "closed" || !s.EndedAt.Equal(at(time.Hour)) {
		t.Errorf("the session ended before = %+v, %v; want its first end kept", s, err)
	}
	if err := db.EndSessions(ctx, []string{all[0].ID}, time.Time{}, "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("EndSessions with a zero time = %v, want ErrInvalid", err)
	}
}

// testListSessionsByPage: following the cursor lists every session a filter selects once,
// newest first, across pages and equal start times, while sessions start meanwhile; a cursor
// the store did not make is refused.
func testListSessionsByPage(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	all := makeLiveSessions(2*MaxSessionLimit + 345)
	createSessions(t, db, all)
	cases := []struct {
		name string
		f    SessionFilter
		keep func(Session) bool
	}{
		{"all, largest pages", SessionFilter{Limit: MaxSessionLimit}, func(Session) bool { return true }},
		{"live, default pages", SessionFilter{Live: ptr(true)}, func(s Session) bool { return s.EndedAt == nil }},
		{"subject, odd pages", SessionFilter{Subject: "carol@example.com", Limit: 333}, func(s Session) bool { return s.Subject == "carol@example.com" }},
		{"ended relay", SessionFilter{RelayID: "cs-us-1", Live: ptr(false), Limit: 7}, func(s Session) bool { return s.RelayID == "cs-us-1" && s.EndedAt != nil }},
	}
	for _, c := range cases {
		var kept []Session
		for _, s := range all {
			if c.keep(s) {
				kept = append(kept, s)
			}
		}
		slices.SortFunc(kept, func(a, b Session) int { return -compareStart(a, b) })
		want := make([]string, len(kept))
		for i, s := range kept {
			want[i] = s.ID
		}
		var got []string
		f := c.f
		for pages := 0; ; pages++ {
			page, next, err := db.ListSessions(ctx, f)
			if err != nil {
				t.Fatalf("%s: ListSessions page %d: %v", c.name, pages, err)
			}
			for _, s := range page {
				got = append(got, s.ID)
			}
			if next == "" {
				break
			}
			if pages == 0 { // a session that starts now sorts before the walk's position: later cases list it
				started := Session{ID: "s-new-" + c.name, DecisionID: "d", Subject: "carol@example.com", HostID: "id-db-1",
					RelayID: "cs-us-1", StartedAt: at(24 * time.Hour)}
				createSessions(t, db, []Session{started})
				all = append(all, started)
			}
			f.After = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: listed %d sessions, want %d, each once, newest first", c.name, len(got), len(want))
		}
	}
	for _, bad := range []string{"not-a-cursor", "e30", strings.Repeat("A", 2000)} {
		if _, _, err := db.ListSessions(ctx, SessionFilter{After: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %.20q: err = %v, want ErrInvalid", bad, err)
		}
	}
}

// compareStart orders sessions by start, then id.
func compareStart(a, b Session) int {
	if n := a.StartedAt.Compare(b.StartedAt); n != 0 {
		return n
	}
	return strings.Compare(a.ID, b.ID)
}
