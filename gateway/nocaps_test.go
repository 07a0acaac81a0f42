package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
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
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
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
	// Every session's Host and CS are told, not just as many as a mailbox holds (each
	// collection takes a bounded share: the next takes more).
	for box, due := range map[string]time.Time{store.HostMailbox(w.hosts["web-1"].id): w.now, store.RelayMailbox("cs-eu-1"): w.now.Add(time.Second)} {
		if n := collectAll(t, w.store, box, due); n != manyLive {
			t.Errorf("%s has %d orders to end sessions, want %d", box, n, manyLive)
		}
	}
}

// collectAll collects the mailbox box, due at due, until it is empty, and returns how many
// messages it held.
func collectAll(t *testing.T, st *store.DB, box string, due time.Time) int {
	t.Helper()
	n := 0
	for {
		orders, _, err := st.CollectMail(context.Background(), box, due)
		if err != nil {
			t.Fatalf("collect the mail of %s: %v", box, err)
		}
		if len(orders) == 0 {
			return n
		}
		n += len(orders)
	}
}

// After a policy change, re-evaluation re-decides every live session, the oldest of more than
// a thousand too, and keeps the cache of live sessions whole.
func TestReevaluationRedecidesTheOldestOfMoreThanAThousandLiveSessions(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
	src, w, alice := startSwappableWorld(t)
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

// relaySessions returns n live session records of bob on web-1 spliced by relayID, the first
// starting at start and each later one a second after it.
func relaySessions(w *world, relayID string, n int, start time.Time) []store.Session {
	ss := make([]store.Session, n)
	for i := range ss {
		ss[i] = store.Session{
			ID: fmt.Sprintf("s-%s-%05d", relayID, i), DecisionID: "d-bulk", Subject: "bob@example.com", HostID: w.hosts["web-1"].id,
			HostName: "web-1", RelayID: relayID, Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: start.Add(time.Duration(i) * time.Second),
		}
	}
	return ss
}

// A relay that lists the sessions it holds gets the records of all the others ended, however
// many there are: the oldest of thousands too, and none it holds.
func TestARelaysReportEndsEveryRecordItNoLongerHoldsEvenTheOldestOfThousands(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	ss := relaySessions(w, "cs-eu-1", manyLive/2, w.now.Add(-2*time.Hour))
	createSessions(t, w.store, ss)
	held := []string{ss[1].ID, ss[len(ss)-1].ID}
	w.registerRelay(t, api.RelayRegistration{ID: "cs-eu-1", Addr: "127.0.0.1:1970", Region: "eu-north", Owner: "vendor", LiveSessions: held})
	if rec, _ := w.store.GetSession(context.Background(), ss[0].ID); rec.EndedAt == nil {
		t.Errorf("the oldest record the relay no longer holds is still live: %+v", rec)
	}
	if n := liveCount(t, w.store, store.LiveFilter{RelayID: "cs-eu-1"}); n != len(held) {
		t.Errorf("%d records of the relay live after its report, want the %d it holds", n, len(held))
	}
}

// A relay that stops reporting takes all its live sessions with it, the oldest of thousands
// too, and no other relay's.
func TestALostRelaysSessionsAllEndEvenTheOldestOfThousands(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
	// The sessions have no decision record, which Run's first re-evaluation would end (fail
	// closed); in warn mode it only logs that, and leaves them to the relay sweep under test.
	w := startWorld(t, withConfig(func(c *gateway.Config) {
		c.RelayInterval, c.RelayStale, c.Revocation = time.Second, 2*time.Second, gateway.RevokeWarn
	}))
	w.registerRelay(t, api.RelayRegistration{ID: "cs-us-1", Addr: "127.0.0.2:1970", Region: "us-east", Owner: "vendor"})
	lost := relaySessions(w, "cs-eu-1", manyLive/2, w.now.Add(-2*time.Hour))
	kept := relaySessions(w, "cs-us-1", 3, w.now.Add(-3*time.Hour))
	createSessions(t, w.store, append(lost, kept...))
	// cs-us-1 keeps reporting; cs-eu-1 does not.
	w.later.Store(int64(time.Minute))
	w.registerRelay(t, api.RelayRegistration{ID: "cs-us-1", Addr: "127.0.0.2:1970", Region: "us-east", Owner: "vendor"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for liveCount(t, w.store, store.LiveFilter{RelayID: "cs-eu-1"}) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lost relay's sessions were not all ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec, _ := w.store.GetSession(context.Background(), lost[0].ID); rec.EndReason != "relay lost" {
		t.Errorf("the oldest session of the lost relay = %+v, want ended as lost", rec)
	}
	if n := liveCount(t, w.store, store.LiveFilter{RelayID: "cs-us-1"}); n != len(kept) {
		t.Errorf("%d of the reporting relay's %d sessions are live", n, len(kept))
	}
}

// A live session that a lock could not end when it was made (here the lock is written straight
// to the store) is ended by the next re-evaluation, though its lock is the oldest of more
// locks in force than any page of the store holds.
func TestReevaluationEndsASessionUnderTheOldestOfMoreThanAThousandLocks(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	locked := w.liveSession(t, alice, "db-1")
	ctx := context.Background()
	if err := w.store.CreateLock(ctx, store.Lock{ID: "lk-alice", Kind: store.LockUser, Target: "alice@example.com",
		Reason: "offboarding", CreatedBy: "dave@example.com", CreatedAt: w.now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i := range store.MaxLockLimit + 200 {
		if err := w.store.CreateLock(ctx, store.Lock{ID: fmt.Sprintf("lk-%05d", i), Kind: store.LockUser, Target: fmt.Sprintf("u%d@example.com", i),
			Reason: "bulk", CreatedBy: "dave@example.com", CreatedAt: w.now.Add(-time.Minute + time.Duration(i)*time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.gateway.ReevaluateLive(ctx)
	if err != nil {
		t.Fatalf("re-evaluation: %v", err)
	}
	if !slices.Equal(res.Ended, []string{locked.SessionID}) {
		t.Errorf("re-evaluation ended %v, want alice's locked session %s", res.Ended, locked.SessionID)
	}
	if rec, _ := w.store.GetSession(ctx, locked.SessionID); rec.EndedAt == nil || rec.EndReason != "locked: offboarding" {
		t.Errorf("alice's session under the oldest lock = %+v, want ended by it", rec)
	}
}
