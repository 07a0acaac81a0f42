package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/store"
)

// The periodic pass (the policy unchanged) re-decides every live session, a page of records
// at a time: when the same policy denies them later (here a deadline passes), every session
// ends, those beyond the first pages too.
func TestThePeriodicPassEndsEverySessionTheSamePolicyNowDenies(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
	deadline := tuesday10.Add(time.Second).UnixNano()
	src := &swappable{}
	src.Store(defaultPolicyAllowingOnlyIf(t, fmt.Sprintf("time.parse_rfc3339_ns(input.context.time) < %d", deadline)))
	w := startWorld(t, withPolicy(src), withConfig(func(c *gateway.Config) { c.ReevaluateInterval = 300 * time.Millisecond }))
	alice := w.login(t, "alice@example.com", "123456")
	first := w.liveSession(t, alice, "db-1")
	copies := w.prodSessions("s-prod", 3*store.LivePageSize+17, first.DecisionID)
	createSessions(t, w.store, copies)
	stop := w.runHoldingLease(t)
	defer stop()
	time.Sleep(2500 * time.Millisecond) // the first pass (Run's first tick) finds them allowed
	if n := countLive(t, w.store); n != len(copies)+1 {
		t.Fatalf("%d sessions live before the deadline, want %d", n, len(copies)+1)
	}
	w.later.Store(int64(2 * time.Second))
	waitFor(t, 30*time.Second, "every session past the deadline to end", func() bool { return countLive(t, w.store) == 0 })
}

// countLive counts the live sessions in st.
func countLive(t *testing.T, st *store.DB) int {
	t.Helper()
	n := 0
	if err := st.EachLiveSession(context.Background(), store.LiveFilter{}, func(store.Session) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// prodSessions returns n live sessions of alice on db-1 that share the record decisionID, with
// ids prefix-00000, prefix-00001, …, started a millisecond apart.
func (w *world) prodSessions(prefix string, n int, decisionID string) []store.Session {
	out := make([]store.Session, n)
	for i := range out {
		out[i] = store.Session{
			ID: fmt.Sprintf("%s-%05d", prefix, i), DecisionID: decisionID, Subject: "alice@example.com", HostID: w.hosts["db-1"].id,
			HostName: "db-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: w.now.Add(time.Duration(i+1) * time.Millisecond),
		}
	}
	return out
}
