package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// A pass that denies more than a thousand sessions, for different reasons and mixed in every
// page, commits a denial record for each session the policy denies, ends each with its own
// reason, tells every Host and CS, and leaves the sessions it allows alone.
func TestAPassEndsThousandsOfSessionsEachWithItsOwnRecordAndReason(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
	src, w, alice := startSwappableWorld(t)
	prod := w.liveSession(t, alice, "db-1")
	staging := w.liveSession(t, alice, "web-1")
	const each = 600
	var denied, locked, allowed []store.Session
	for i := range 3 * each {
		sess := store.Session{ID: fmt.Sprintf("s-%05d", i), DecisionID: prod.DecisionID, Subject: "alice@example.com",
			HostID: w.hosts["db-1"].id, HostName: "db-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high",
			Channels: []string{"shell"}, StartedAt: w.now.Add(time.Duration(i+1) * time.Millisecond)}
		switch i % 3 {
		case 0:
			denied = append(denied, sess)
		case 1: // bob's, with no record: his lock ends them before the policy could
			sess.Subject, sess.DecisionID, sess.HostID, sess.HostName = "bob@example.com", "d-none", w.hosts["web-1"].id, "web-1"
			locked = append(locked, sess)
		case 2:
			sess.DecisionID, sess.HostID, sess.HostName = staging.DecisionID, w.hosts["web-1"].id, "web-1"
			allowed = append(allowed, sess)
		}
	}
	createSessions(t, w.store, slices.Concat(denied, locked, allowed))
	ctx := context.Background()
	if err := w.store.CreateLock(ctx, store.Lock{ID: "lk-bob", Kind: store.LockUser, Target: "bob@example.com",
		Reason: "offboarding", CreatedBy: "dave@example.com", CreatedAt: w.now}); err != nil {
		t.Fatal(err)
	}

	src.Store(stagingOnlyForOps(t))
	res, err := w.gateway.ReevaluateLive(ctx)
	if err != nil {
		t.Fatalf("re-evaluation: %v", err)
	}
	if res.Checked != 3*each+2 || len(res.Ended) != 2*each+1 || len(res.Warned) != 0 {
		t.Errorf("re-evaluation checked %d, ended %d, warned %d; want %d, %d, 0", res.Checked, len(res.Ended), len(res.Warned), 3*each+2, 2*each+1)
	}
	for _, c := range []struct {
		sessions []store.Session
		reason   string // the end reason's prefix; "" for live
	}{{denied, "policy now denies: "}, {locked, "locked: offboarding"}, {allowed, ""}} {
		for _, sess := range c.sessions {
			rec, err := w.store.GetSession(ctx, sess.ID)
			if err != nil || (c.reason == "") != (rec.EndedAt == nil) || !strings.HasPrefix(rec.EndReason, c.reason) {
				t.Fatalf("session %s = ended %v for %q, %v; want ended for %q", sess.ID, rec.EndedAt, rec.EndReason, err, c.reason)
			}
		}
	}
	want := map[string]bool{prod.SessionID: true}
	for _, sess := range denied {
		want[sess.ID] = true
	}
	for _, d := range denialsOf(t, w.store, "db-1") {
		if !want[d.Labels["reevaluated_session"]] {
			t.Fatalf("denial record %s for %q, not one denied session's", d.ID, d.Labels["reevaluated_session"])
		}
		delete(want, d.Labels["reevaluated_session"])
	}
	if len(want) != 0 {
		t.Errorf("%d denied sessions have no denial record", len(want))
	}
	for box, n := range map[string]int{store.HostMailbox(w.hosts["db-1"].id): each + 1, store.HostMailbox(w.hosts["web-1"].id): each,
		store.RelayMailbox("cs-eu-1"): 2*each + 1} {
		if got := collectAll(t, w.store, box, w.now.Add(time.Second)); got != n {
			t.Errorf("%s has %d orders to end sessions, want %d", box, got, n)
		}
	}
}

// denialsOf returns every denial record about the Host named host, page after page.
func denialsOf(t *testing.T, st *store.DB, host string) []store.Decision {
	t.Helper()
	deny := false
	f := store.DecisionFilter{HostName: host, Allow: &deny, Limit: store.MaxDecisionLimit}
	var out []store.Decision
	for {
		page, next, err := st.ListDecisions(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.After = next
	}
}
