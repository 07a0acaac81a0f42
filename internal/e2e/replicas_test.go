//go:build unix

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/store"
)

// Issue 13, point 6: three `portcullis cm` replicas on one real PostgreSQL behind a real
// HAProxy (round-robin, health-checked on /readyz); Hosts, the relay and Guests know only the
// HAProxy address, except where a story steers a request to one replica by its own address.

// Names of the replicated system's parts.
const (
	haRelay = "cs-ha-1"
	haHost  = "web-1"
	// haReason is the lock reason of the steered story.
	haReason = "incident ha"
)

// Targets of the stories, checked by assertion (timings are logged as well).
const (
	// haOrderTarget is how soon after a lock its session must end at the CS and the Host.
	haOrderTarget = 2 * time.Second
	// haFailoverTarget is how long after a kill -9 connects may fail.
	haFailoverTarget = 5 * time.Second
	// haLeaseTarget is how soon another replica takes the lease of a killed holder.
	haLeaseTarget = 10 * time.Second
	// haQuiet is how long the policy story watches for duplicate re-decisions after every
	// replica serves the new policy: more than twice the order sweep (1 s) in which a replica
	// re-evaluates after a reload, and the policy poll (0.5 s).
	haQuiet = 3 * time.Second
)

// haSystem is the replicated system the stories share.
type haSystem struct {
	c           *localstack.Stack
	st          *store.DB
	alice, dave localstack.User
	policyDir   string
}

// TestThreeCMReplicasBehindHAProxy runs the stories in order on one system: each leaves every
// replica up and in rotation for the next; the policy change comes last.
func TestThreeCMReplicasBehindHAProxy(t *testing.T) {
	start := time.Now()
	hs := startHA(t)
	t.Logf("PostgreSQL, identity provider, 3 CM replicas, HAProxy, relay and Host up in %v", time.Since(start).Round(time.Millisecond))
	t.Run("a_200_connects_spread_over_the_replicas", hs.manyConnects)
	t.Run("b_lock_through_C_ends_session_connected_through_A_host_polling_B", hs.lockAcrossReplicas)
	t.Run("c_kill_9_of_a_replica_under_connect_load", hs.killUnderLoad)
	t.Run("d_the_singleton_lease_moves", hs.leaseMoves)
	t.Run("e_policy_change_re_decides_each_live_session_once", hs.policyChangeOnce)
	t.Run("f_the_decision_log_is_complete_and_verifies", hs.logVerifies)
}

// startHA starts the system on a throwaway PostgreSQL database.
func startHA(t *testing.T) *haSystem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.Start(t)
	hs := &haSystem{policyDir: t.TempDir()}
	writePolicy(t, hs.policyDir, "", "")
	c, err := localstack.Start(ctx, localstack.Options{Bin: sys.bin, Dir: t.TempDir(), Store: dsn, Replicas: 3,
		// Revocation "warn" leaves re-decided sessions running, so a second re-decision of one
		// would show; periodic re-evaluation is pushed out of the test's way.
		CMArgs: []string{"--policy-dir", hs.policyDir, "--policy-poll", "500ms", "--revocation", "warn", "--reevaluate-interval", "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	hs.c = c
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"idp", "cm-1", "cm-2", "cm-3", "cm-1-restarted", "cm-2-restarted", "cm-3-restarted", "haproxy", haRelay, haHost, "web-b"} {
				if log := c.LogOf(n); log != "" {
					t.Logf("--- %s (last lines) ---\n%s", n, tail(log, 80))
				}
			}
		}
		c.Stop()
	})
	if _, err := c.StartRelay(ctx, localstack.RelaySpec{ID: haRelay, Region: "eu-north"}); err != nil {
		t.Fatal(err)
	}
	if hs.alice, err = c.Login(ctx, "alice@example.com", "password", "123456"); err != nil {
		t.Fatal(err)
	}
	if hs.dave, err = c.Login(ctx, "dave@example.com", "password", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRelays(ctx, hs.dave, haRelay); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartHost(ctx, hs.dave, stagingHost(haHost)); err != nil {
		t.Fatal(err)
	}
	if hs.st, err = store.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.st.Close() })
	return hs
}

// stagingHost is a Host that alice (ops) may reach under the default policy.
func stagingHost(name string) localstack.HostSpec {
	return localstack.HostSpec{Name: name, Tags: map[string]string{"env": "staging", "team": "web"}, Tenant: "acme"}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// connectOnce runs `exec -v host -- true` as u against cmURL and returns the decision id of
// a connection that went through, or the error and output of one that did not.
func (hs *haSystem) connectOnce(ctx context.Context, u localstack.User, cmURL, host string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, liveDeadline)
	defer cancel()
	cmd := hs.c.GuestAt(ctx, u, cmURL, "exec", "-v", host, "--", "true")
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	m := decisionRE.FindStringSubmatch(out.String())
	if err != nil || m == nil {
		return "", fmt.Errorf("exec %s via %s: %v\n%s", host, cmURL, err, out.String())
	}
	return m[1], nil
}

func (hs *haSystem) manyConnects(t *testing.T) {
	const connects, workers = 200, 8
	ctx := context.Background()
	before, err := hs.c.LBConnections()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var (
		mu       sync.Mutex
		granted  []string
		failures []error
		wg       sync.WaitGroup
	)
	jobs := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for range jobs {
				id, err := hs.connectOnce(ctx, hs.alice, hs.c.CMURL, haHost)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					granted = append(granted, id)
				}
				mu.Unlock()
			}
		})
	}
	for range connects {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	after, err := hs.c.LBConnections()
	if err != nil {
		t.Fatal(err)
	}
	byReplica := map[string]int{}
	for _, id := range granted {
		d, err := hs.st.GetDecision(ctx, id)
		if err != nil || !d.Allow {
			t.Errorf("connection %s went through, but its record is %+v, %v", id, d, err)
		}
		byReplica[d.Labels["cm"]]++
	}
	t.Logf("%d of %d connects through HAProxy went through in %v (%d at a time; %.1f/s); decided by %v; HAProxy connections per replica %v → %v",
		len(granted), connects, took.Round(time.Millisecond), workers, float64(len(granted))/took.Seconds(), byReplica, before, after)
	if len(failures) > 0 {
		t.Errorf("%d of %d connects failed; the first:\n%v", len(failures), connects, failures[0])
	}
	// Round-robin over new connections: each replica decides a fair share, far above 0.
	for _, n := range hs.c.ReplicaNames() {
		if byReplica[n] < connects/10 {
			t.Errorf("replica %s decided %d of the %d connects, want at least %d (spread: %v)", n, byReplica[n], connects, connects/10, byReplica)
		}
	}
}

// haSession is a long Guest session.
type haSession struct {
	*guestRun
	decisionID string
}

// startSession runs the ticker on host as alice through the CM at cmURL, waits until it runs,
// and finds its session record by its decision.
func (hs *haSystem) startSession(t *testing.T, cmURL, host string) *haSession {
	t.Helper()
	g := &guestRun{cmd: hs.c.GuestAt(context.Background(), hs.alice, cmURL, "exec", "-v", host, "--", ticker), done: make(chan struct{})}
	g.cmd.Stdout, g.cmd.Stderr = &g.stdout, &g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = g.cmd.Wait() // the stories judge the exit through done and the output
		close(g.done)
	}()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
	})
	waitUntil(t, "the remote command to start via "+cmURL, func() bool { return strings.Contains(g.stdout.String(), "started") || g.exited() })
	if g.exited() {
		t.Fatalf("the session via %s ended at once; stderr:\n%s", cmURL, g.stderr.String())
	}
	m := decisionRE.FindStringSubmatch(g.stderr.String())
	if m == nil {
		t.Fatalf("no decision id in the Guest's -v output:\n%s", g.stderr.String())
	}
	s := &haSession{guestRun: g, decisionID: m[1]}
	waitUntil(t, "the session record of "+s.decisionID, func() bool {
		ss, _, err := hs.st.ListSessions(context.Background(), store.SessionFilter{Subject: hs.alice.Email, Live: ptr(true), Limit: store.MaxSessionLimit})
		if err != nil {
			return false
		}
		for _, rec := range ss {
			if rec.DecisionID == s.decisionID {
				g.id = rec.ID
			}
		}
		return g.id != ""
	})
	return s
}

func ptr[T any](v T) *T { return &v }

// decidedBy returns the replica that made the decision.
func (hs *haSystem) decidedBy(t *testing.T, id string) string {
	t.Helper()
	d, err := hs.st.GetDecision(context.Background(), id)
	if err != nil {
		t.Fatalf("decision %s: %v", id, err)
	}
	return d.Labels["cm"]
}

func (hs *haSystem) lockAcrossReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b, c := "cm-1", "cm-2", "cm-3"
	// HAProxy sends new connections to B only while the Host web-b starts and runs: every
	// connection web-b makes, its long-poll included, goes to B. The Guest connects through A
	// and dave locks through C, each by its own address.
	if err := hs.c.Route(ctx, b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := hs.c.Route(context.Background()); err != nil {
			t.Errorf("put every replica back in rotation: %v", err)
		}
	})
	host, err := hs.c.StartHost(ctx, hs.dave, stagingHost("web-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Kill()
	if err := hs.c.ShareLogin(hs.alice, hs.c.ReplicaURL(a)); err != nil {
		t.Fatal(err)
	}
	s := hs.startSession(t, hs.c.ReplicaURL(a), "web-b")
	if by := hs.decidedBy(t, s.decisionID); by != a {
		t.Fatalf("the connect sent to %s was decided by %q", a, by)
	}
	if st, err := hs.c.LBStatus(); err != nil || !strings.HasPrefix(st[a], "MAINT") || !strings.HasPrefix(st[c], "MAINT") || !strings.HasPrefix(st[b], "UP") {
		t.Fatalf("HAProxy's replicas while web-b runs: %v, %v; want only %s in rotation", st, err, b)
	}

	var lock api.Lock
	ordered := time.Now()
	err = api.Call(ctx, hs.dave.Client, http.MethodPost, hs.c.ReplicaURL(c)+api.PathLocks, hs.dave.IDToken, api.LockRequest{Session: s.id, Reason: haReason}, &lock)
	if err != nil {
		t.Fatalf("lock session %s through %s: %v", s.id, c, err)
	}
	// Each end is timed from the lock request, whichever is seen first.
	var csAt, hostAt time.Duration
	waitUntil(t, "the CS and web-b to end "+s.id, func() bool {
		if csAt == 0 && logHas(hs.c.LogOf(haRelay), "relay: session ended", s.id) {
			csAt = time.Since(ordered)
		}
		if hostAt == 0 && logHas(hs.c.LogOf("web-b"), "ending session on the CM's order", s.id) {
			hostAt = time.Since(ordered)
		}
		return csAt != 0 && hostAt != 0
	})
	waitUntil(t, "the Guest's command to exit", s.exited)
	t.Logf("session %s (connect through %s, web-b polling %s) locked through %s: ended at the CS %v and at the Host %v after the lock request; the Guest exited after %v",
		s.id, a, b, c, csAt.Round(time.Millisecond), hostAt.Round(time.Millisecond), time.Since(ordered).Round(time.Millisecond))
	if csAt > haOrderTarget || hostAt > haOrderTarget {
		t.Errorf("the lock ended the session at the CS after %v and at the Host after %v, want both within %v", csAt, hostAt, haOrderTarget)
	}
	if !strings.Contains(s.stderr.String(), "the session was ended: locked: "+haReason) {
		t.Errorf("the Guest is not told why the session ended; stderr:\n%s", s.stderr.String())
	}
	waitUntil(t, "the session record to say the lock ended it", func() bool {
		rec, err := hs.st.GetSession(ctx, s.id)
		return err == nil && rec.EndedAt != nil && rec.EndReason == api.ReasonPrefixLocked+haReason
	})
}

// leaseHolder waits until a replica holds the singleton lease and returns it.
func (hs *haSystem) leaseHolder(t *testing.T) string {
	t.Helper()
	var holder string
	waitUntil(t, "a replica to hold the singleton lease", func() bool {
		h, err := hs.st.LeaseHolder(context.Background(), store.LeaseSingleton)
		holder = h
		return err == nil && h != ""
	})
	return holder
}

// decisions returns every decision record about alice from since on that f (Subject and
// Since set here) selects, through all pages.
func (hs *haSystem) decisions(t *testing.T, since time.Time, f store.DecisionFilter) []store.Decision {
	t.Helper()
	f.Subject, f.Since, f.Limit = hs.alice.Email, since, store.MaxDecisionLimit
	var all []store.Decision
	for {
		page, next, err := hs.st.ListDecisions(context.Background(), f)
		if err != nil {
			t.Fatalf("list decisions: %v", err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		f.After = next
	}
}
