package gateway_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
)

// noPeriodicPass sets the periodic re-evaluation beyond a test's length, so that only the pass
// under test can end a session.
func noPeriodicPass() cmOption {
	return withConfig(func(c *gateway.Config) { c.ReevaluateInterval = time.Hour })
}

// waitForPolicyEnd waits until the session's record ends by a policy re-evaluation.
func waitForPolicyEnd(t *testing.T, w *world, sessionID string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "the session the new policy denies to end", func() bool {
		rec, _ := w.store.GetSession(context.Background(), sessionID)
		return rec.EndedAt != nil
	})
	if rec, _ := w.store.GetSession(context.Background(), sessionID); !strings.HasPrefix(rec.EndReason, api.ReasonPrefixRevoked) {
		t.Errorf("session record = %+v, want ended by the policy", rec)
	}
}

// A CM that starts under a policy that changed while it was down (an operator took production
// away from ops and restarted it) re-evaluates the live sessions at once, without waiting for
// the periodic pass: the one the new policy denies ends, the other stays.
func TestACMStartingUnderAChangedPolicyEndsTheSessionsItNowDenies(t *testing.T) {
	t.Parallel()
	src, w, alice := startSwappableWorld(t, noPeriodicPass())
	prod := w.liveSession(t, alice, "db-1")
	staging := w.liveSession(t, alice, "web-1")
	src.Store(stagingOnlyForOps(t)) // before Run: the CM never served it while the sessions ran

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }()
	waitForPolicyEnd(t, w, prod.SessionID, 30*time.Second)
	if rec, _ := w.store.GetSession(context.Background(), staging.SessionID); rec.EndedAt != nil {
		t.Errorf("the staging session, still allowed, ended: %+v", rec)
	}
}

// A re-evaluation after a policy change that fails because the database is down is tried
// again once it is back, within seconds, not left to the periodic pass.
func TestAReevaluationThatFailsWhileTheDatabaseIsDownIsRetried(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "the halted-database re-evaluation test")
	ctx := context.Background()
	pg, dsn := startPostgreSQL(t)
	src, w, alice := startSwappableWorld(t, withStore(dsn), noPeriodicPass())
	prod := w.liveSession(t, alice, "db-1")
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = w.gateway.Run(runCtx) }()
	waitFor(t, takeoverDeadline, "the CM to take the lease", w.gateway.HoldsLease)

	if err := pg.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	src.Store(stagingOnlyForOps(t))
	time.Sleep(2500 * time.Millisecond) // Run's ticks notice the change and fail to re-evaluate
	if rec, err := w.store.GetSession(ctx, prod.SessionID); err == nil {
		t.Fatalf("read a session with the database halted: %+v", rec)
	}
	if err := pg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitForPolicyEnd(t, w, prod.SessionID, 30*time.Second)
}

// Sessions whose decision records the store cannot read (here their table is altered behind
// the CM's back) are not re-decided: the pass fails, they stay live and are never counted as
// still allowed, and the next pass that can read the records decides them.
func TestAPassThatCannotReadItsSessionsRecordsFailsAndTheNextDecidesThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cm.db")
	src, w, alice := startSwappableWorld(t, withStore("sqlite:"+path), noPeriodicPass())
	prod := w.liveSession(t, alice, "db-1")
	prod2 := w.liveSession(t, alice, "db-1")
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	renameInput := func(from, to string) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, "ALTER TABLE decisions RENAME COLUMN "+from+" TO "+to); err != nil {
			t.Fatal(err)
		}
	}
	renameInput("input", "input_damaged")
	src.Store(stagingOnlyForOps(t))

	res, err := w.gateway.ReevaluateLive(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 of 2 live sessions not re-decided") {
		t.Fatalf("re-evaluation with records the store cannot read = %+v, %v; want it to fail for both sessions", res, err)
	}
	if len(res.Ended) != 0 || len(res.Warned) != 0 {
		t.Errorf("the failing pass ended %v and warned of %v, want neither", res.Ended, res.Warned)
	}
	for _, id := range []string{prod.SessionID, prod2.SessionID} {
		if got, _ := w.store.GetSession(ctx, id); got.EndedAt != nil {
			t.Fatalf("a session whose record could not be read ended: %+v", got)
		}
	}

	renameInput("input_damaged", "input")
	res, err = w.gateway.ReevaluateLive(ctx)
	slices.Sort(res.Ended)
	want := []string{prod.SessionID, prod2.SessionID}
	slices.Sort(want)
	if err != nil || !slices.Equal(res.Ended, want) {
		t.Fatalf("re-evaluation once the records read again = %+v, %v; want %v ended", res, err, want)
	}
	waitForPolicyEnd(t, w, prod.SessionID, time.Second)
}
