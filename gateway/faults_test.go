package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/store"
)

// recoveryDeadline bounds how long the CM may take to serve again once the database is back;
// it is generous on purpose (it guards against hanging, it measures nothing).
const recoveryDeadline = 60 * time.Second

// startPostgreSQL starts a PostgreSQL server of the test's own, which the test may halt or
// freeze, and returns it with the DSN of a new database on it.
func startPostgreSQL(t *testing.T) (*pgtest.Server, string) {
	t.Helper()
	ctx := context.Background()
	pg, err := pgtest.StartServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	dsn, _, err := pgtest.CreateDatabase(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	return pg, dsn
}

// startWorldOnItsOwnPostgreSQL starts a world on a PostgreSQL server of the test's own.
func startWorldOnItsOwnPostgreSQL(t *testing.T) (*pgtest.Server, *world) {
	t.Helper()
	pg, dsn := startPostgreSQL(t)
	return pg, startWorld(t, withStore(dsn))
}

func TestWithTheDatabaseDownConnectsAreRefusedWith503AndTheCMRecoversByItself(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, w := startWorldOnItsOwnPostgreSQL(t)
	alice := w.login(t, "alice@example.com", "123456")
	w.liveSession(t, alice, "db-1")

	if err := pg.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"db-1", "web-1"} {
		resp, _, err := w.connect(alice, host, "shell")
		if status, body := statusOf(err); status != http.StatusServiceUnavailable || resp.Ticket != "" {
			t.Fatalf("connect to %s with the database down: %d %+v, ticket %q; want 503 and no ticket", host, status, body, resp.Ticket)
		}
	}
	// Heartbeats may still be answered from the CM's memory (cached Host identities); their
	// presence waits in a map bounded by the number of Hosts until the store is back.
	if err := heartbeat(w.hosts["db-1"], w.url); err != nil {
		if status, _ := statusOf(err); status != http.StatusServiceUnavailable {
			t.Errorf("heartbeat with the database down: %v, want success from memory or 503", err)
		}
	}

	if err := pg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := start.Add(recoveryDeadline)
	for {
		_, _, err := w.connect(alice, "web-1", "shell")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CM did not recover after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the CM served a connect %v after the database came back", time.Since(start))
}

// frozenOrdersBound bounds how long the Host's and the relay's long-polls take to hand out the
// orders held in memory while the database is frozen: a few store calls, each given up after
// the gateway's emergencyStoreTimeout (2 s), with room for a loaded machine (a store call held
// past its caller's bound, as by a batch's own 30 s timeout, exceeds it).
const frozenOrdersBound = 16 * time.Second

// The emergency brake: with the database frozen (SIGSTOP: connections hang, nothing answers),
// dave's lock of alice still ends her live session at the Host and the relay at once; the CM
// answers 202 with the lock marked pending, and records the lock and the decision that allowed it
// once the database answers again, after which her connects are refused.
func TestALockEndsKnownSessionsWhileTheDatabaseIsFrozenAndIsRecordedWhenItIsBack(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "the frozen-database test")
	ctx := context.Background()
	pg, w := startWorldOnItsOwnPostgreSQL(t)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = w.gateway.Run(runCtx) }()
	alice := w.login(t, "alice@example.com", "123456")
	dave := w.login(t, "dave@example.com", "")
	sess := w.liveSession(t, alice, "db-1")

	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := pg.Thaw(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(thaw) // before Stop, which runs later
	var l api.Lock
	if err := w.call(dave, http.MethodPost, api.PathLocks, api.LockRequest{User: "alice@example.com", Reason: "stolen laptop"}, &l); err != nil {
		t.Fatalf("lock with the database frozen: %v", err)
	}
	if !l.Pending || !slices.Equal(l.EndedSessions, []string{sess.SessionID}) {
		t.Fatalf("lock = %+v, want it pending and ending %s", l, sess.SessionID)
	}
	start := time.Now()
	resp, _, err := w.connect(alice, "web-1", "exec")
	if status, body := statusOf(err); status != http.StatusServiceUnavailable || resp.Ticket != "" {
		t.Fatalf("connect with the database frozen: %d %+v, ticket %q; want 503 and no ticket", status, body, resp.Ticket)
	}
	t.Logf("a connect with the database frozen was refused after %v", time.Since(start))
	// The orders held in memory go out although every store call hangs: each long-poll's store
	// calls are bounded (emergencyStoreTimeout), shared statements included.
	told := time.Now()
	kills := w.hostRequests(t, "db-1")
	if len(kills) != 1 || !kills[0].Kill || kills[0].SessionID != sess.SessionID || kills[0].Reason != "locked: stolen laptop" {
		t.Errorf("the Host was told %+v, want a kill of %s", kills, sess.SessionID)
	}
	cmds := w.relayCommands(t, w.relayClient(t, "cs-eu-1"), "cs-eu-1")
	if len(cmds) != 1 || cmds[0].SessionID != sess.SessionID {
		t.Errorf("the relay was told %+v, want a kill of %s", cmds, sess.SessionID)
	}
	if took := time.Since(told); took > frozenOrdersBound {
		t.Errorf("the Host and the relay were told after %v, want within %v", took, frozenOrdersBound)
	}
	thaw()
	deadline := time.Now().Add(recoveryDeadline)
	for {
		rec, err := w.store.GetSession(ctx, sess.SessionID)
		locks, lerr := w.store.ActiveLocks(ctx, time.Now(), store.LockTarget{Kind: store.LockUser, Target: "alice@example.com"})
		if err == nil && lerr == nil && rec.EndedAt != nil && len(locks) == 1 && locks[0].ID == l.ID {
			if rec.EndReason != "locked: stolen laptop" {
				t.Errorf("session record ended with %q", rec.EndReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pending lock was not recorded after the database came back: session %+v (%v), locks %+v (%v)", rec, err, locks, lerr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	decisions, _, err := w.store.ListDecisions(ctx, store.DecisionFilter{Subject: "dave@example.com", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(decisions, func(d store.Decision) bool { return d.Path == "portcullis/api/locks.create" && d.Allow }) {
		t.Errorf("no recorded decision allowed dave's lock among %d of his", len(decisions))
	}
	_, _, err = w.connect(alice, "web-1", "shell")
	if status, body := statusOf(err); status != http.StatusForbidden || !slices.Contains(body.Reasons, "locked: stolen laptop") {
		t.Fatalf("alice's connect after the database came back: %d %+v, want 403 for the lock", status, body)
	}
}
