package gateway_test

import (
	"context"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/store"
)

// hostRequests polls the Host's long-poll once.
func (w *world) hostRequests(t testing.TB, host string) []api.HostRequest {
	t.Helper()
	var reqs api.HostRequests
	if err := api.Call(context.Background(), w.hosts[host].client, http.MethodGet, w.url+api.PathHostRequests, "", nil, &reqs); err != nil {
		t.Fatalf("host %s long-poll: %v", host, err)
	}
	return reqs.Requests
}

// relayCommands polls the relay's command long-poll once, after moving the CM's clock past the
// delay of the relay's orders (the Host is told first).
func (c *cm) relayCommands(t testing.TB, hc *http.Client, relayID string) []api.RelayCommand {
	t.Helper()
	c.later.Add(int64(relayOrderDelay))
	var cmds api.RelayCommands
	if err := api.Call(context.Background(), hc, http.MethodGet, c.url+api.PathRelayCommands+"?relay="+relayID, "", nil, &cmds); err != nil {
		t.Fatalf("relay %s commands: %v", relayID, err)
	}
	return cmds.Commands
}

// relayOrderDelay is how long after the Host a relay is told to end a session (the
// gateway's relayKillDelay).
const relayOrderDelay = 500 * time.Millisecond

func (w *world) lock(t testing.TB, admin user, req api.LockRequest) api.Lock {
	t.Helper()
	var l api.Lock
	if err := w.call(admin, http.MethodPost, api.PathLocks, req, &l); err != nil {
		t.Fatalf("lock %+v: %v", req, err)
	}
	return l
}

// liveSession connects alice or bob and drains the Host's connection request.
func (w *world) liveSession(t testing.TB, u user, host string) api.ConnectResponse {
	t.Helper()
	resp, _, err := w.connect(u, host, "shell")
	if err != nil {
		t.Fatalf("connect to %s: %v", host, err)
	}
	if reqs := w.hostRequests(t, host); len(reqs) != 1 || reqs[0].Kill {
		t.Fatalf("host requests = %+v", reqs)
	}
	return resp
}

func TestEachLockKindEndsTheLiveSessionAtTheRelayAndTheHostAndRefusesNewConnects(t *testing.T) {
	t.Parallel()
	kinds := map[string]func(sessionID string) api.LockRequest{
		"user":    func(string) api.LockRequest { return api.LockRequest{User: "bob@example.com", Reason: "offboarding"} },
		"host":    func(string) api.LockRequest { return api.LockRequest{Host: "web-1", Reason: "offboarding"} },
		"session": func(id string) api.LockRequest { return api.LockRequest{Session: id, Reason: "offboarding"} },
	}
	for kind, lockOf := range kinds {
		t.Run(kind, func(t *testing.T) {
			w := startWorld(t)
			dave := w.login(t, "dave@example.com", "")
			bob := w.login(t, "bob@example.com", "")
			relay := w.relayClient(t, "cs-eu-1")
			sess := w.liveSession(t, bob, "web-1")
			l := w.lock(t, dave, lockOf(sess.SessionID))
			if !slices.Equal(l.EndedSessions, []string{sess.SessionID}) || l.CreatedBy != "dave@example.com" || !l.Active {
				t.Fatalf("lock = %+v, want it to end %s", l, sess.SessionID)
			}

			kills := w.hostRequests(t, "web-1")
			if len(kills) != 1 || !kills[0].Kill || kills[0].SessionID != sess.SessionID || kills[0].Reason != "locked: offboarding" {
				t.Errorf("the Host was told %+v, want a kill of %s", kills, sess.SessionID)
			}
			cmds := w.relayCommands(t, relay, "cs-eu-1")
			if len(cmds) != 1 || cmds[0].SessionID != sess.SessionID {
				t.Errorf("the relay was told %+v, want a kill of %s", cmds, sess.SessionID)
			}
			rec, err := w.store.GetSession(context.Background(), sess.SessionID)
			if err != nil || rec.EndedAt == nil || rec.EndReason != "locked: offboarding" {
				t.Errorf("session record = %+v, %v: want ended, and why", rec, err)
			}

			if kind == "session" {
				return // a session lock stops that session only
			}
			_, _, err = w.connect(bob, "web-1", "shell")
			status, body := statusOf(err)
			if status != http.StatusForbidden || !slices.Contains(body.Reasons, "locked: offboarding") {
				t.Fatalf("connect while locked: %d %+v, want 403 with the lock's reason", status, body)
			}
			d, err := w.store.GetDecision(context.Background(), body.DecisionID)
			if err != nil || d.Allow || !slices.Contains(d.Reasons, "locked: offboarding") {
				t.Errorf("decision record of the refusal = %+v, %v", d, err)
			}

			var removed api.Lock
			if err := w.call(dave, http.MethodDelete, api.PathLocks+"/"+l.ID, nil, &removed); err != nil {
				t.Fatalf("unlock: %v", err)
			}
			if removed.Active || removed.RemovedBy != "dave@example.com" {
				t.Errorf("removed lock = %+v", removed)
			}
			w.liveSession(t, bob, "web-1")
		})
	}
}

func TestLocksAreForAdministratorsAndNeedOneTargetAndAReason(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	dave := w.login(t, "dave@example.com", "")
	alice := w.login(t, "alice@example.com", "123456")
	err := w.call(alice, http.MethodPost, api.PathLocks, api.LockRequest{User: "bob@example.com", Reason: "x"}, nil)
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Errorf("alice locked bob: %v, want 403", err)
	}
	for name, req := range map[string]api.LockRequest{
		"no target":   {Reason: "x"},
		"two targets": {User: "bob@example.com", Host: "web-1", Reason: "x"},
		"no reason":   {User: "bob@example.com"},
		"negative":    {User: "bob@example.com", Reason: "x", TTLSeconds: -1},
		// 2^40 s wraps time.Duration around: it was stored as a lock that had already expired.
		"ttl past what a duration holds": {User: "bob@example.com", Reason: "x", TTLSeconds: 1 << 40},
		"ttl past ten years":             {User: "bob@example.com", Reason: "x", TTLSeconds: 10*365*24*3600 + 1},
		// Each was stored as a lock in force that no connect matches.
		"an upper-case host name":   {Host: "WEB-1", Reason: "x"},
		"a host name with a space":  {Host: " web-1", Reason: "x"},
		"a host name no Host has":   {Host: "web_1", Reason: "x"},
		"a user with a space":       {User: "bob@example.com ", Reason: "x"},
		"a session with a new line": {Session: "ses_1\n", Reason: "x"},
	} {
		err := w.call(dave, http.MethodPost, api.PathLocks, req, nil)
		if status, _ := statusOf(err); status != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}
	if locks, _, err := w.store.ListLocks(context.Background(), store.LockFilter{At: w.now}); err != nil || len(locks) != 0 {
		t.Errorf("refused lock requests stored %v, %v", locks, err)
	}
	err = w.call(dave, http.MethodDelete, api.PathLocks+"/lk_nope", nil, nil)
	if status, _ := statusOf(err); status != http.StatusNotFound {
		t.Errorf("unlock of an unknown lock: %v, want 404", err)
	}
}

func TestALockWithTheLongestTTLIsInForce(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	dave := w.login(t, "dave@example.com", "")
	bob := w.login(t, "bob@example.com", "")
	l := w.lock(t, dave, api.LockRequest{User: "bob@example.com", Reason: "suspended", TTLSeconds: 10 * 365 * 24 * 3600})
	if !l.Active || l.ExpiresAt == nil || !l.ExpiresAt.After(w.now.AddDate(9, 0, 0)) {
		t.Fatalf("lock = %+v, want one in force for ten years", l)
	}
	_, _, err := w.connect(bob, "web-1", "shell")
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Fatalf("bob connected while locked for ten years: %v", err)
	}
}

func TestALockWithATTLExpires(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	dave := w.login(t, "dave@example.com", "")
	bob := w.login(t, "bob@example.com", "")
	w.lock(t, dave, api.LockRequest{User: "bob@example.com", Reason: "cool-off", TTLSeconds: 60})
	if _, _, err := w.connect(bob, "web-1", "shell"); err == nil {
		t.Fatal("bob connected while locked")
	}
	w.now = w.now.Add(61 * time.Second)
	if err := heartbeat(w.hosts["web-1"], w.url); err != nil {
		t.Fatal(err)
	}
	w.registerRelay(t, api.RelayRegistration{ID: "cs-eu-1", Addr: "127.0.0.1:1970", Region: "eu-north", Owner: "vendor"})
	w.liveSession(t, bob, "web-1")
}

// stagingOnlyForOps is the default policy with ops no longer allowed on production.
func stagingOnlyForOps(t testing.TB) *policy.Engine {
	t.Helper()
	return defaultPolicyWithAuthz(t, func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "staging"}],`, 1))
	})
}

// defaultPolicyWithAuthz is the default policy with its authz.rego rewritten by edit.
func defaultPolicyWithAuthz(t testing.TB, edit func([]byte) []byte) *policy.Engine {
	t.Helper()
	files := fstest.MapFS{}
	err := fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if p == "authz.rego" {
			b = edit(b)
		}
		files[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.New(context.Background(), policy.WithFS(files))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// swappable is a policy source whose policy the test replaces, as a reload would.
type swappable struct {
	atomic.Pointer[policy.Engine]
}

// Current returns the engine serving now.
func (s *swappable) Current() *policy.Engine { return s.Load() }

// Status describes the serving policy.
func (s *swappable) Status() policy.Status { return policy.Status{Revision: s.Load().Revision()} }

// startSwappableWorld starts a world serving the default policy from a swappable source,
// which the test may swap, with alice signed in.
func startSwappableWorld(t testing.TB, opts ...cmOption) (*swappable, *world, user) {
	t.Helper()
	src := &swappable{}
	src.Store(defaultEngine(t))
	w := startWorld(t, append([]cmOption{withPolicy(src)}, opts...)...)
	return src, w, w.login(t, "alice@example.com", "123456")
}

func TestAPolicyChangeEndsTheSessionsItNowDenies(t *testing.T) {
	t.Parallel()
	src, w, alice := startSwappableWorld(t)
	relay := w.relayClient(t, "cs-eu-1")
	prod := w.liveSession(t, alice, "db-1")
	staging := w.liveSession(t, alice, "web-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }() // Run notices the reload

	src.Store(stagingOnlyForOps(t))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if rec, _ := w.store.GetSession(context.Background(), prod.SessionID); rec.EndedAt != nil {
			if !strings.HasPrefix(rec.EndReason, "policy now denies: ") {
				t.Fatalf("session record = %+v", rec)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reload did not end the production session the new policy denies")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if kills := w.hostRequests(t, "db-1"); len(kills) != 1 || !kills[0].Kill || !strings.HasPrefix(kills[0].Reason, "policy now denies: ") {
		t.Errorf("db-1 was told %+v", kills)
	}
	if cmds := w.relayCommands(t, relay, "cs-eu-1"); len(cmds) != 1 || cmds[0].SessionID != prod.SessionID {
		t.Errorf("the relay was told %+v", cmds)
	}
	if rec, _ := w.store.GetSession(context.Background(), staging.SessionID); rec.EndedAt != nil {
		t.Errorf("the staging session, still allowed, ended: %+v", rec)
	}
	if _, _, err := w.connect(alice, "db-1", "shell"); err == nil {
		t.Error("a new connect to production is allowed under the new policy")
	}
}

func TestReevaluationInWarnModeRecordsButLeavesTheSession(t *testing.T) {
	t.Parallel()
	src, w, alice := startSwappableWorld(t, withConfig(func(c *gateway.Config) { c.Revocation = "warn" }))
	prod := w.liveSession(t, alice, "db-1")
	src.Store(stagingOnlyForOps(t))
	res, err := w.gateway.ReevaluateLive(context.Background())
	if err != nil || !slices.Equal(res.Warned, []string{prod.SessionID}) || len(res.Ended) != 0 {
		t.Fatalf("re-evaluation = %+v, %v", res, err)
	}
	if rec, _ := w.store.GetSession(context.Background(), prod.SessionID); rec.EndedAt != nil {
		t.Errorf("warn mode ended the session: %+v", rec)
	}
}

func TestSessionRecordsAreForAuditorsAndAdministrators(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	carol := w.login(t, "carol@example.com", "")
	sess := w.liveSession(t, alice, "db-1")
	w.liveSession(t, alice, "web-1")

	var all []api.Session
	if err := w.call(carol, http.MethodGet, api.PathSessions+"?host=db-1&live=true", nil, &all); err != nil {
		t.Fatalf("carol lists sessions: %v", err)
	}
	if len(all) != 1 || all[0].ID != sess.SessionID || all[0].HostName != "db-1" || all[0].Subject != "alice@example.com" ||
		all[0].DecisionID != sess.DecisionID || all[0].RelayID != "cs-eu-1" || !all[0].Live || all[0].Encryption != "very_high" {
		t.Errorf("sessions = %+v", all)
	}
	var one api.Session
	if err := w.call(carol, http.MethodGet, api.PathSessions+"/"+sess.SessionID, nil, &one); err != nil || one.ID != sess.SessionID {
		t.Errorf("get session = %+v, %v", one, err)
	}
	rec, err := w.store.GetDecision(context.Background(), sess.DecisionID)
	if err != nil || rec.Labels["session_id"] != sess.SessionID || rec.Labels["outcome"] != "granted" {
		t.Errorf("the decision record %+v (%v) does not name its session %s", rec.Labels, err, sess.SessionID)
	}
	for _, tc := range []struct {
		decision string
		want     []string
	}{
		{sess.DecisionID, []string{sess.SessionID}},
		{"dec_that_allowed_nothing", nil},
	} {
		var got []api.Session
		if err := w.call(carol, http.MethodGet, api.PathSessions+"?decision="+tc.decision, nil, &got); err != nil {
			t.Fatalf("sessions of decision %s: %v", tc.decision, err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("sessions?decision=%s = %v, want %v", tc.decision, ids, tc.want)
		}
	}
	err = w.call(alice, http.MethodGet, api.PathSessions, nil, &all)
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Errorf("alice listed sessions: %v, want 403", err)
	}
	for _, bad := range []string{"?live=maybe", "?cursor=not-a-cursor", "?cursor=" + strings.Repeat("A", 2000)} {
		err = w.call(carol, http.MethodGet, api.PathSessions+bad, nil, &all)
		if status, _ := statusOf(err); status != http.StatusBadRequest {
			t.Errorf("malformed filter %.30s: %v, want 400", bad, err)
		}
	}
}

func TestReevaluationEndsASessionOfALockedUserThatTheLockDidNotReach(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	bob := w.login(t, "bob@example.com", "")
	sess := w.liveSession(t, bob, "web-1")
	// A lock written straight to the store, as another CM replica would: this CM never ended
	// the session when the lock was made.
	err := w.store.CreateLock(context.Background(), store.Lock{ID: "lk_other", Kind: store.LockUser, Target: "bob@example.com", Reason: "offboarding", CreatedBy: "dave@example.com", CreatedAt: w.now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.gateway.ReevaluateLive(context.Background())
	if err != nil || !slices.Equal(res.Ended, []string{sess.SessionID}) {
		t.Fatalf("re-evaluation = %+v, %v; want the locked user's session ended", res, err)
	}
	if rec, _ := w.store.GetSession(context.Background(), sess.SessionID); rec.EndReason != "locked: offboarding" {
		t.Errorf("session record = %+v", rec)
	}
}

func TestTheRecordOfASessionItsRelayNoLongerHoldsIsEnded(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	gone := w.liveSession(t, alice, "db-1")
	held := w.liveSession(t, alice, "web-1")
	report := func(live []string) {
		w.registerRelay(t, api.RelayRegistration{ID: "cs-eu-1", Addr: "127.0.0.1:1970", Region: "eu-north", Owner: "vendor", LiveSessions: live})
	}
	w.now = w.now.Add(2 * time.Minute)
	report(nil) // a CS that does not list its sessions says nothing about them
	if rec, _ := w.store.GetSession(context.Background(), gone.SessionID); rec.EndedAt != nil {
		t.Fatalf("a report without a session list ended %+v", rec)
	}
	report([]string{held.SessionID})
	if rec, _ := w.store.GetSession(context.Background(), gone.SessionID); rec.EndedAt == nil || !strings.Contains(rec.EndReason, "no longer holds") {
		t.Errorf("the session the relay no longer holds = %+v, want ended", rec)
	}
	if rec, _ := w.store.GetSession(context.Background(), held.SessionID); rec.EndedAt != nil {
		t.Errorf("the session the relay holds was ended: %+v", rec)
	}
	if err := heartbeat(w.hosts["db-1"], w.url); err != nil {
		t.Fatal(err)
	}
	fresh := w.liveSession(t, alice, "db-1")
	w.now = w.now.Add(4 * time.Second)
	report([]string{held.SessionID})
	if rec, _ := w.store.GetSession(context.Background(), fresh.SessionID); rec.EndedAt != nil {
		t.Errorf("a session granted seconds ago, not yet paired, was ended: %+v", rec)
	}
}

// A live session whose allowing decision has no record (a record lost or a session written
// around the CM) cannot be decided again: re-evaluation ends it, failing closed, and records
// that denial; the sessions that have their records stay.
func TestReevaluationEndsALiveSessionThatNoDecisionRecordAllowed(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	kept := w.liveSession(t, alice, "web-1")
	ctx := context.Background()
	orphan := store.Session{ID: "ses_orphan", DecisionID: "dec_nowhere", Subject: "bob@example.com", HostID: w.hosts["web-1"].id,
		HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"}, StartedAt: w.now}
	if err := w.store.CreateSession(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	res, err := w.gateway.ReevaluateLive(ctx)
	if err != nil || !slices.Equal(res.Ended, []string{orphan.ID}) || res.Checked != 2 {
		t.Fatalf("re-evaluation = %+v, %v; want the session without a record ended, and only it", res, err)
	}
	want := api.ReasonPrefixRevoked + "no decision record allowed this session (fail closed)"
	if rec, _ := w.store.GetSession(ctx, orphan.ID); rec.EndedAt == nil || rec.EndReason != want {
		t.Errorf("the session without a record = %+v, want ended with %q", rec, want)
	}
	if rec, _ := w.store.GetSession(ctx, kept.SessionID); rec.EndedAt != nil {
		t.Errorf("alice's session, allowed by its record, ended: %+v", rec)
	}
	denials, _, err := w.store.ListDecisions(ctx, store.DecisionFilter{Subject: "bob@example.com"})
	if err != nil || len(denials) != 1 || denials[0].Allow || denials[0].Labels["reevaluated_session"] != orphan.ID {
		t.Errorf("bob's decision records = %+v, %v; want the one denial of the re-evaluation", denials, err)
	}
}

// Every listing answered in pages refuses a cursor it did not make and a negative limit
// (400), rather than start anywhere.
func TestListingsRefuseACursorTheyDidNotMake(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	carol := w.login(t, "carol@example.com", "")
	for _, path := range []string{api.PathSessions, api.PathHosts, api.PathLocks, api.PathReachableHosts} {
		for _, q := range []string{"cursor=not-a-cursor", "cursor=" + strings.Repeat("A", 2000), "limit=-1", "limit=many"} {
			err := w.call(carol, http.MethodGet, path+"?"+q, nil, nil)
			if status, _ := statusOf(err); status != http.StatusBadRequest {
				t.Errorf("%s?%.30s: %v, want 400", path, q, err)
			}
		}
	}
}
