package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// drainStall is how long draining a mailbox goes on without a new order before it gives up:
// a few empty long-polls (the tests' LongPoll is 2 s), each of which may also wait out a
// frozen store (emergencyStoreTimeout, 2 s, per call).
const drainStall = 12 * time.Second

// drain long-polls with poll until want distinct orders arrived or none came for drainStall,
// and returns them by session id (id). A failed poll or an order handed over twice fails t.
func drain[T any](t *testing.T, who string, want int, poll func() ([]T, error), id func(T) string) map[string]T {
	t.Helper()
	got := map[string]T{}
	for last := time.Now(); len(got) < want && time.Since(last) < drainStall; {
		orders, err := poll()
		if err != nil {
			t.Errorf("%s long-poll after %d orders: %v", who, len(got), err)
			continue
		}
		for _, o := range orders {
			if _, dup := got[id(o)]; dup {
				t.Errorf("%s was handed %+v twice", who, o)
			}
			got[id(o)] = o
			last = time.Now()
		}
	}
	return got
}

// drainHost long-polls as the Host, as its agent does (api.Call, which refuses an answer longer
// than it reads), until it got want orders (drain).
func (w *world) drainHost(t *testing.T, host string, want int) map[string]api.HostRequest {
	t.Helper()
	return drain(t, "host "+host, want, func() ([]api.HostRequest, error) {
		var reqs api.HostRequests
		err := api.Call(context.Background(), w.hosts[host].client, http.MethodGet, w.url+api.PathHostRequests, "", nil, &reqs)
		return reqs.Requests, err
	}, func(r api.HostRequest) string { return r.SessionID })
}

// drainRelay is drainHost for the relay's command long-poll, the CM's clock moved past the
// relay's delay before each poll.
func (w *world) drainRelay(t *testing.T, relayID string, want int) map[string]api.RelayCommand {
	t.Helper()
	hc := w.relayClient(t, relayID)
	return drain(t, "relay "+relayID, want, func() ([]api.RelayCommand, error) {
		w.later.Add(int64(relayOrderDelay))
		var cmds api.RelayCommands
		err := api.Call(context.Background(), hc, http.MethodGet, w.url+api.PathRelayCommands+"?relay="+relayID, "", nil, &cmds)
		return cmds.Commands, err
	}, func(c api.RelayCommand) string { return c.SessionID })
}

// bobsSessions returns n live session records of bob on web-1 through cs-eu-1, of decision
// decisionID, the first starting n seconds before the world's time.
func bobsSessions(w *world, n int, decisionID string) []store.Session {
	ss := make([]store.Session, n)
	for i := range ss {
		ss[i] = store.Session{
			ID: fmt.Sprintf("s-bob-%05d", i), DecisionID: decisionID, Subject: "bob@example.com", HostID: w.hosts["web-1"].id,
			HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: w.now.Add(-time.Duration(n-i) * time.Second),
		}
	}
	return ss
}

// checkOrders fails t unless the Host and the relay were each told to end every one of ss,
// for want.
func checkOrders(t *testing.T, ss []store.Session, host map[string]api.HostRequest, relay map[string]api.RelayCommand, want string) {
	t.Helper()
	if len(host) != len(ss) || len(relay) != len(ss) {
		t.Errorf("the Host got %d kill orders and the relay %d; want %d each", len(host), len(relay), len(ss))
	}
	for _, sess := range ss {
		if h, ok := host[sess.ID]; !ok || !h.Kill || h.Reason != want {
			t.Fatalf("the Host's order to end %s = %+v (%v); want one for %.40q…", sess.ID, h, ok, want)
		}
		if c, ok := relay[sess.ID]; !ok || c.Reason != want {
			t.Fatalf("the relay's order to end %s = %+v (%v); want one for %.40q…", sess.ID, c, ok, want)
		}
	}
}

// A user with thousands of sessions on one Host is locked with a long reason (one that JSON
// escapes to six times its length): the orders to end them are far more than one answer of a
// long-poll holds, and the Host and the relay, polling as their clients do, get every one.
func TestEveryKillOrderOfThousandsReachesTheHostAndTheRelayThroughTheirLongPolls(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "cm.db") },
		"postgres": func(t *testing.T) string { return pgtest.Start(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testEveryKillOrderOfThousandsReachesTheHostAndTheRelay(t, dsn(t))
		})
	}
}

func testEveryKillOrderOfThousandsReachesTheHostAndTheRelay(t *testing.T, dsn string) {
	w := startWorld(t, withStore(dsn))
	dave := w.login(t, "dave@example.com", "")
	bobs := bobsSessions(w, manyLive, "d-bulk")
	createSessions(t, w.store, bobs)

	reason := strings.Repeat("<", 500) // the longest a lock takes
	l := w.lock(t, dave, api.LockRequest{User: "bob@example.com", Reason: reason})
	if len(l.EndedSessions) != manyLive {
		t.Fatalf("the lock ended %d sessions, want %d", len(l.EndedSessions), manyLive)
	}
	host := w.drainHost(t, "web-1", manyLive)
	relay := w.drainRelay(t, "cs-eu-1", manyLive)
	checkOrders(t, bobs, host, relay, api.ReasonPrefixLocked+reason)
}

// frozenSessions is more sessions of one user on one Host than the CM once kept orders for
// one recipient in memory while the store was down (256).
const frozenSessions = 300

// The emergency brake with the database frozen ends every session it knows of the locked user:
// the orders held in memory for one Host and one relay are not cut at a bound, and each reaches
// its recipient through long-polls whose answers each hold a bounded share.
func TestALockWithTheDatabaseFrozenTellsTheHostAndTheRelayOfEverySessionItEnds(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "the frozen-database test")
	pg, w := startWorldOnItsOwnPostgreSQL(t)
	dave := w.login(t, "dave@example.com", "")
	bob := w.login(t, "bob@example.com", "")
	first := w.liveSession(t, bob, "web-1")
	rec, err := w.store.GetSession(context.Background(), first.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	bobs := append(bobsSessions(w, frozenSessions-1, first.DecisionID), rec)
	createSessions(t, w.store, bobs[:frozenSessions-1])
	// The CM learns of the sessions written straight to the store as of its next pass.
	if _, err := w.gateway.ReevaluateLive(context.Background()); err != nil {
		t.Fatalf("re-evaluation: %v", err)
	}

	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Thaw(); err != nil {
			t.Error(err)
		}
	})
	var l api.Lock
	if err := w.call(dave, http.MethodPost, api.PathLocks, api.LockRequest{User: "bob@example.com", Reason: "stolen laptop"}, &l); err != nil {
		t.Fatalf("lock with the database frozen: %v", err)
	}
	if !l.Pending || len(l.EndedSessions) != frozenSessions {
		t.Fatalf("lock pending %v, ending %d sessions; want pending and ending %d", l.Pending, len(l.EndedSessions), frozenSessions)
	}
	host := w.drainHost(t, "web-1", frozenSessions)
	relay := w.drainRelay(t, "cs-eu-1", frozenSessions)
	checkOrders(t, bobs, host, relay, api.ReasonPrefixLocked+"stolen laptop")
}

// denyingAtLength is the default policy with one more reason to refuse every connect: n
// characters that JSON escapes to six each.
func denyingAtLength(t testing.TB, n int) *policy.Engine {
	t.Helper()
	return defaultPolicyWithAuthz(t, func(b []byte) []byte {
		return fmt.Appendf(b, "\nexplicit contains %q if input.request.action == \"connect\"\n", strings.Repeat("<", n))
	})
}

// A policy change revokes a session for a reason longer than a long-poll's answer holds: its
// orders still reach the Host and the relay, the reason cut and marked so.
func TestARevocationsOverLongReasonIsCutToFitTheLongPolls(t *testing.T) {
	t.Parallel()
	src := &swappable{}
	src.Store(defaultEngine(t))
	w := startWorld(t, withPolicy(src))
	bob := w.login(t, "bob@example.com", "")
	sess := w.liveSession(t, bob, "web-1")
	const long = 200_000 // 1.2 MB as JSON
	src.Store(denyingAtLength(t, long))
	if res, err := w.gateway.ReevaluateLive(context.Background()); err != nil || len(res.Ended) != 1 {
		t.Fatalf("re-evaluation ended %v, %v; want %s", res.Ended, err, sess.SessionID)
	}
	host := w.drainHost(t, "web-1", 1)
	relay := w.drainRelay(t, "cs-eu-1", 1)
	for who, reason := range map[string]string{"host": host[sess.SessionID].Reason, "relay": relay[sess.SessionID].Reason} {
		if !strings.HasPrefix(reason, api.ReasonPrefixRevoked) || !strings.Contains(reason, "<<<") ||
			!strings.HasSuffix(reason, " [truncated]") || len(reason) >= long {
			t.Errorf("the %s was told to end %s for %d bytes: %.60q…; want the reason cut and marked", who, sess.SessionID, len(reason), reason)
		}
	}
}
