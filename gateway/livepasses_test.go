package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// A pass over many live sessions runs beside Run's other work: while a slow policy re-decides
// sessions and ends them a few at a time, the sequencer goes on appending the records committed
// meanwhile (the pass's own denials) to the transparency log, before the pass is over.
func TestTheSequencerRunsWhileAPassOverTheLiveSessionsDoes(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this test of a pass that takes seconds")
	src, w, alice := startSwappableWorld(t)
	first := w.liveSession(t, alice, "db-1")
	copies := w.prodSessions("s-slow", 300, first.DecisionID)
	createSessions(t, w.store, copies)
	stop := w.runHoldingLease(t)
	defer stop()
	logged := func() uint64 {
		cp, err := w.store.LatestCheckpoint(context.Background())
		if errors.Is(err, store.ErrNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return cp.Size
	}
	waitFor(t, 30*time.Second, "the allowing connect's record to be logged", func() bool { return logged() >= 1 })
	before := logged()

	// Each decision walks a large comprehension, and then denies.
	src.Store(defaultPolicyAllowingOnlyIf(t, "count({x | some x in numbers.range(1, 10000)}) < 0"))
	start := time.Now()
	waitFor(t, 60*time.Second, "the pass to end a first session", func() bool { return countLive(t, w.store) <= len(copies) })
	for {
		size, live := logged(), countLive(t, w.store)
		if size > before && live > 0 {
			t.Logf("%d records logged after %v, with %d sessions still live", size-before, time.Since(start), live)
			break
		}
		if live == 0 {
			t.Fatalf("the pass ended every session (%v) before a record committed during it was logged", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 120*time.Second, "the pass to end every session", func() bool { return countLive(t, w.store) == 0 })
	t.Logf("the pass took %v", time.Since(start))
}

// Stopping Run (the CM shuts down) during a pass stops the pass: the decisions its end cuts
// short are not policy failures, and no session is ended for one, nor its Host told to end it.
func TestStoppingRunDuringAPassEndsNoSessionForIt(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this test of a pass that takes seconds")
	src, w, alice := startSwappableWorld(t)
	prod := w.liveSession(t, alice, "db-1")
	staging := w.liveSession(t, alice, "web-1")
	// The pass goes through the sessions in the order they started (then of their ids): the
	// first, on web-1, is ended at once, and tells that the pass is under way; the prod ones
	// after it are allowed, slowly.
	sessions := append([]store.Session{{ID: "a-marker", DecisionID: staging.DecisionID, Subject: "alice@example.com", HostID: w.hosts["web-1"].id,
		HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "high", Channels: []string{"shell"}, StartedAt: w.now}},
		w.prodSessions("b-prod", 300, prod.DecisionID)...)
	createSessions(t, w.store, sessions)
	stop := w.runHoldingLease(t)
	defer stop()
	time.Sleep(2500 * time.Millisecond) // the first pass (Run's first tick) finds them allowed
	live := countLive(t, w.store)
	if live != len(sessions)+2 {
		t.Fatalf("%d sessions live before the policy changed, want %d", live, len(sessions)+2)
	}

	src.Store(defaultPolicyAllowingOnlyIf(t, `input.host.name != "web-1"`, "count({x | some x in numbers.range(1, 10000)}) >= 0"))
	waitFor(t, 30*time.Second, "the pass to end the session on web-1", func() bool {
		s, err := w.store.GetSession(context.Background(), "a-marker")
		return err == nil && s.EndedAt != nil
	})
	stop()
	time.Sleep(time.Second) // what the stopped pass would still do, it does now
	if n := countLive(t, w.store); n < live-2 {
		t.Fatalf("%d sessions live after Run stopped, want at least %d (only web-1's end)", n, live-2)
	}
	for _, req := range w.hostRequests(t, "db-1") {
		if req.Kill {
			t.Fatalf("db-1 was told to end session %s (%s) by a pass that was stopped", req.SessionID, req.Reason)
		}
	}
}

// runHoldingLease runs w's CM until the returned function is called, once it holds the lease.
func (w *world) runHoldingLease(t *testing.T) context.CancelFunc {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	go func() { _ = w.gateway.Run(ctx) }()
	waitFor(t, takeoverDeadline, "the CM to take the lease", w.gateway.HoldsLease)
	return stop
}

// defaultPolicyAllowingOnlyIf is the default policy whose allow rule also needs every one of
// conditions.
func defaultPolicyAllowingOnlyIf(t *testing.T, conditions ...string) *policy.Engine {
	t.Helper()
	return defaultPolicyWithAuthz(t, func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "\tcount(explicit) == 0\n}",
			"\tcount(explicit) == 0\n\t"+strings.Join(conditions, "\n\t")+"\n}", 1))
	})
}
