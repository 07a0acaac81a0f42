package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// heldPolicy is a policy source that, once armed, holds the next caller of Current until the
// test releases it: a connect so held has read the locks and has not yet decided, let alone
// committed its session. (The test CMs run no background work that would call Current.)
type heldPolicy struct {
	engine  *policy.Engine
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

// Current returns the engine, after holding the first caller since the source was armed.
func (h *heldPolicy) Current() *policy.Engine {
	if h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return h.engine
}

// Status describes the engine.
func (h *heldPolicy) Status() policy.Status { return policy.Status{Revision: h.engine.Revision()} }

// TestALockMadeWhileAConnectIsDecidedEndsItsSession: a connect reads the locks before it
// decides and commits its session after. A lock made in between found no session to end when
// it swept the live ones, and the connect had read no lock: the session ran until the next
// re-evaluation, a minute later. The connect now reads the locks again once its session is
// committed, so the Guest is refused and the session ended, whether the lock was made at the
// same CM or at another replica sharing the database.
func TestALockMadeWhileAConnectIsDecidedEndsItsSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		replicas bool
	}{{"at the same CM", false}, {"at another replica", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &heldPolicy{engine: defaultEngine(t), held: make(chan struct{}), release: make(chan struct{})}
			w, locker := startWorldAndLocker(t, src, tc.replicas)
			bob, dave := w.login(t, "bob@example.com", ""), locker.login(t, "dave@example.com", "")

			src.armed.Store(true)
			refused := make(chan error, 1)
			go func() {
				_, _, err := w.connect(bob, "web-1", "shell")
				refused <- err
			}()
			select {
			case <-src.held:
			case <-time.After(crossReplicaDeadline):
				t.Fatal("the connect never reached its decision")
			}
			var l api.Lock
			if err := locker.call(dave, http.MethodPost, api.PathLocks, api.LockRequest{User: "bob@example.com", Reason: "offboarding"}, &l); err != nil {
				t.Fatalf("lock: %v", err)
			}
			if len(l.EndedSessions) != 0 {
				t.Fatalf("the lock ended %v before the connect committed a session", l.EndedSessions)
			}
			close(src.release)

			status, body := statusOf(<-refused)
			if status != http.StatusForbidden || !slices.Contains(body.Reasons, "locked: offboarding") {
				t.Fatalf("connect decided while the lock was made: %d %+v, want 403 with the lock's reason", status, body)
			}
			live := 0
			err := w.store.EachLiveSessionPage(context.Background(), store.LiveFilter{Subject: "bob@example.com"}, func(page []store.Session) error {
				live += len(page)
				return nil
			})
			if err != nil || live != 0 {
				t.Fatalf("bob has %d live sessions (%v), want none", live, err)
			}
			reqs := w.hostRequests(t, "web-1")
			if !slices.ContainsFunc(reqs, func(r api.HostRequest) bool { return r.Kill && r.Reason == "locked: offboarding" }) {
				t.Errorf("the Host was told %+v, want the session's end for the lock", reqs)
			}
		})
	}
}

// startWorldAndLocker starts a world deciding with src and the CM that makes the lock: the
// world's own, or a second replica sharing a fresh PostgreSQL database with it.
func startWorldAndLocker(t *testing.T, src policy.Source, replicas bool) (*world, *cm) {
	t.Helper()
	if !replicas {
		w := startWorld(t, withPolicy(src))
		return w, w.cm
	}
	dsn := pgtest.Start(t)
	w := startWorld(t, withStore(dsn), withPolicy(src), named("cm-a"))
	return w, startCM(t, replicaOf(w.cm), withStore(dsn), named("cm-b"))
}
