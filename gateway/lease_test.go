package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/store"
)

// takeoverDeadline is how soon after the lease holder dies another replica must do its work.
const takeoverDeadline = 10 * time.Second

// named gives a CM replica its instance id.
func named(instance string) cmOption {
	return withConfig(func(c *gateway.Config) { c.Instance = instance })
}

// waitFor polls cond every 20ms until it holds, failing the test with what after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaseMetric is the portcullis_cm_lease_held line c's metrics show.
func leaseMetric(t *testing.T, c *cm) string {
	t.Helper()
	return metricLine(t, c, "portcullis_cm_lease_held{")
}

// metricLine returns the first line of the CM's metrics that starts with prefix, or "".
func metricLine(t *testing.T, c *cm, prefix string) string {
	t.Helper()
	res, err := c.http.Get(c.url + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	for line := range strings.Lines(readAll(t, res)) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func TestTwoReplicasReevaluateOnceUnderTheLeaseAndTheOtherTakesOverWhenTheHolderDies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	src := &swappable{}
	src.Store(defaultEngine(t))
	w := startWorld(t, withStore(dsn), withPolicy(src), named("cm-a"))
	b := startCM(t, withStore(dsn), withPolicy(src), named("cm-b"))
	replicas := map[string]*cm{"cm-a": w.cm, "cm-b": b}
	alice := w.login(t, "alice@example.com", "123456")
	prod := w.liveSession(t, alice, "db-1")
	staging := w.liveSession(t, alice, "web-1")

	die := map[string]context.CancelFunc{}
	for name, c := range replicas {
		runCtx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		die[name] = cancel // ends Run without releasing the lease, as kill -9 would
		go func() { _ = c.gateway.Run(runCtx) }()
	}
	var holder string
	waitFor(t, takeoverDeadline, "no replica took the lease", func() bool {
		holder, _ = w.store.LeaseHolder(ctx, store.LeaseSingleton)
		return holder != "" && replicas[holder].gateway.HoldsLease()
	})
	survivor := "cm-a"
	if holder == "cm-a" {
		survivor = "cm-b"
	}
	if replicas[survivor].gateway.HoldsLease() {
		t.Fatalf("both replicas hold the lease (%s in the store)", holder)
	}
	if got, want := leaseMetric(t, replicas[holder]), `portcullis_cm_lease_held{lease="singleton"} 1`; got != want {
		t.Errorf("holder's metric = %q, want %q", got, want)
	}
	if got, want := leaseMetric(t, replicas[survivor]), `portcullis_cm_lease_held{lease="singleton"} 0`; got != want {
		t.Errorf("other replica's metric = %q, want %q", got, want)
	}

	// Both replicas load the policy that denies production; only the holder re-decides.
	src.Store(stagingOnlyForOps(t))
	waitFor(t, 30*time.Second, "the policy change did not end the production session", func() bool {
		rec, _ := w.store.GetSession(ctx, prod.SessionID)
		return rec.EndedAt != nil
	})
	time.Sleep(3 * time.Second) // several order sweeps of both replicas
	denied := false
	ds, _, err := w.store.ListDecisions(ctx, store.DecisionFilter{HostName: "db-1", Allow: &denied, Limit: store.MaxDecisionLimit})
	if err != nil {
		t.Fatal(err)
	}
	var redecided []string
	for _, d := range ds {
		if d.Labels["reevaluated_session"] == prod.SessionID {
			redecided = append(redecided, d.Labels["cm"])
		}
	}
	if len(redecided) != 1 || redecided[0] != holder {
		t.Errorf("re-decisions of the production session by %v, want exactly one, by the holder %s", redecided, holder)
	}
	if rec, _ := w.store.GetSession(ctx, staging.SessionID); rec.EndedAt != nil {
		t.Fatalf("the staging session, still allowed, ended: %+v", rec)
	}

	// The holder dies without releasing the lease; a lock written straight to the store, as a
	// replica that could not reach the session would leave it, waits for re-evaluation.
	die[holder]()
	died := time.Now()
	err = w.store.CreateLock(ctx, store.Lock{ID: "lk_takeover", Kind: store.LockUser, Target: "alice@example.com", Reason: "offboarding", CreatedBy: "dave@example.com", CreatedAt: w.now})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, takeoverDeadline, survivor+" did not take the lease over", func() bool {
		h, _ := w.store.LeaseHolder(ctx, store.LeaseSingleton)
		return h == survivor && replicas[survivor].gateway.HoldsLease()
	})
	waitFor(t, takeoverDeadline-time.Since(died), survivor+" did not re-evaluate after taking over", func() bool {
		rec, _ := w.store.GetSession(ctx, staging.SessionID)
		return rec.EndReason == "locked: offboarding"
	})
	if replicas[holder].gateway.HoldsLease() {
		t.Error("the dead replica still counts the lease as its own")
	}
}

func TestAReleasedLeaseIsTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	a := startCM(t, withStore(dsn), named("cm-a"))
	b := startCM(t, withStore(dsn), named("cm-b"))
	aCtx, stopA := context.WithCancel(ctx)
	t.Cleanup(stopA)
	aDone := make(chan error, 1)
	go func() { aDone <- a.gateway.Run(aCtx) }()
	waitFor(t, takeoverDeadline, "cm-a did not take the free lease", a.gateway.HoldsLease)
	bCtx, stopB := context.WithCancel(ctx)
	t.Cleanup(stopB)
	go func() { _ = b.gateway.Run(bCtx) }()

	stopA()
	if err := <-aDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := a.gateway.ReleaseLease(ctx); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	// Within a renewal interval or so, well before the released lease would have expired.
	waitFor(t, 4*time.Second, "cm-b did not take the released lease", b.gateway.HoldsLease)
	if a.gateway.HoldsLease() {
		t.Error("cm-a still counts the released lease as its own")
	}
	t.Logf("taken over %v after the release", time.Since(released).Round(time.Millisecond))
}

func TestASingleCMOnSQLiteHoldsTheLeaseWithoutAsking(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	runCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go func() { _ = c.gateway.Run(runCtx) }()
	if !c.gateway.HoldsLease() {
		t.Error("a CM on SQLite does not hold the lease")
	}
	if got, want := leaseMetric(t, c), `portcullis_cm_lease_held{lease="singleton"} 1`; got != want {
		t.Errorf("metric = %q, want %q", got, want)
	}
	if h, err := c.store.LeaseHolder(context.Background(), store.LeaseSingleton); err != nil || h != "" {
		t.Errorf("lease row = %q, %v; a CM on SQLite writes none", h, err)
	}
}
