package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// manyLive is more live sessions than any one page or list of the store holds.
const manyLive = 5000

// createSessions writes ss straight to the store, concurrently so that group commit batches them.
func createSessions(t testing.TB, st *store.DB, ss []store.Session) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 256)
	for _, sess := range ss {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := st.CreateSession(context.Background(), sess); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("create sessions: %v", first)
	}
}

// liveCount counts the live sessions f selects.
func liveCount(t testing.TB, st *store.DB, f store.LiveFilter) int {
	t.Helper()
	n := 0
	if err := st.EachLiveSession(context.Background(), f, func(store.Session) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A user with thousands of live sessions is locked: every one of them ends, the oldest too,
// and nobody else's.
func TestALockEndsEveryLiveSessionOfItsUserEvenTheOldestOfThousands(t *testing.T) {
	w := startWorld(t)
	dave := w.login(t, "dave@example.com", "")
	alice := w.login(t, "alice@example.com", "123456")
	other := w.liveSession(t, alice, "db-1")
	bobs := make([]store.Session, manyLive)
	for i := range bobs {
		bobs[i] = store.Session{
			ID: fmt.Sprintf("s-bob-%05d", i), DecisionID: "d-bulk", Subject: "bob@example.com", HostID: w.hosts["web-1"].id,
			HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: w.now.Add(-time.Duration(manyLive-i) * time.Second),
		}
	}
	oldest := bobs[0].ID
	createSessions(t, w.store, bobs)

	start := time.Now()
	l := w.lock(t, dave, api.LockRequest{User: "bob@example.com", Reason: "offboarding"})
	t.Logf("the lock ended %d sessions in %v", len(l.EndedSessions), time.Since(start))
	if len(l.EndedSessions) != manyLive || !slices.Contains(l.EndedSessions, oldest) {
		t.Errorf("the lock ended %d sessions (the oldest, %s, among them: %v); want all %d", len(l.EndedSessions), oldest, slices.Contains(l.EndedSessions, oldest), manyLive)
	}
	if rec, err := w.store.GetSession(context.Background(), oldest); err != nil || rec.EndedAt == nil || rec.EndReason != "locked: offboarding" {
		t.Errorf("the oldest session's record = %+v, %v; want ended by the lock", rec, err)
	}
	if n := liveCount(t, w.store, store.LiveFilter{Subject: "bob@example.com"}); n != 0 {
		t.Errorf("%d of bob's sessions are still live", n)
	}
	if rec, _ := w.store.GetSession(context.Background(), other.SessionID); rec.EndedAt != nil {
		t.Errorf("alice's session ended with bob's lock: %+v", rec)
	}
}

// After a policy change, re-evaluation re-decides every live session, the oldest of more than
// a thousand too, and keeps the cache of live sessions whole.
func TestReevaluationRedecidesTheOldestOfMoreThanAThousandLiveSessions(t *testing.T) {
	src := &swappable{}
	src.Store(defaultEngine(t))
	w := startWorld(t, withPolicy(src))
	alice := w.login(t, "alice@example.com", "123456")
	prod := w.liveSession(t, alice, "db-1") // the oldest: the new policy denies it
	staging := w.liveSession(t, alice, "web-1")
	const newer = store.MaxSessionLimit + 200
	copies := make([]store.Session, newer)
	for i := range copies {
		copies[i] = store.Session{
			ID: fmt.Sprintf("s-staging-%05d", i), DecisionID: staging.DecisionID, Subject: "alice@example.com", HostID: w.hosts["web-1"].id,
			HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: w.now.Add(time.Second + time.Duration(i)*time.Millisecond),
		}
	}
	createSessions(t, w.store, copies)

	src.Store(stagingOnlyForOps(t))
	res, err := w.gateway.ReevaluateLive(context.Background())
	if err != nil {
		t.Fatalf("re-evaluation: %v", err)
	}
	if res.Checked != newer+2 || !slices.Equal(res.Ended, []string{prod.SessionID}) || len(res.Warned) != 0 {
		t.Errorf("re-evaluation checked %d, ended %v, warned %v; want %d checked and only %s ended", res.Checked, res.Ended, res.Warned, newer+2, prod.SessionID)
	}
	if rec, _ := w.store.GetSession(context.Background(), prod.SessionID); rec.EndedAt == nil {
		t.Errorf("the oldest session, now denied, is still live: %+v", rec)
	}
	if n := liveCount(t, w.store, store.LiveFilter{}); n != newer+1 {
		t.Errorf("%d live sessions after re-evaluation, want %d", n, newer+1)
	}
}
