package gateway_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// collector is an OPA decision-log collector for the tests: it keeps every event it receives
// and can be killed and restarted on the same address.
type collector struct {
	t    *testing.T
	addr string
	srv  *httptest.Server

	mu     sync.Mutex
	events map[string][]api.Decision // by decision_id, one per arrival
}

func startCollector(t *testing.T) *collector {
	c := &collector{t: t, addr: "127.0.0.1:0", events: map[string][]api.Decision{}}
	c.start()
	c.addr = c.srv.Listener.Addr().String()
	t.Cleanup(c.kill)
	return c
}

func (c *collector) start() {
	l, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatalf("collector listen: %v", err)
	}
	c.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: c}}
	c.srv.Start()
}

func (c *collector) kill() {
	c.srv.CloseClientConnections()
	c.srv.Close()
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil || r.URL.Path != logship.DefaultResource {
		c.t.Errorf("collector: POST %s, body not gzip: %v", r.URL.Path, err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var evs []api.Decision
	if err := json.NewDecoder(zr).Decode(&evs); err != nil {
		c.t.Errorf("collector: not a JSON array of events: %v", err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, ev := range evs {
		c.events[ev.ID] = append(c.events[ev.ID], ev)
	}
	c.mu.Unlock()
}

// got returns the events received of id.
func (c *collector) got(id string) []api.Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[id]
}

// shipTo makes the CM ship its decision records to c.
func shipTo(c *collector) cmOption {
	return withConfig(func(cfg *gateway.Config) {
		cfg.DecisionLogShipping = logship.Config{URL: "http://" + c.addr, Poll: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	})
}

// allDecisionIDs lists every record of the log.
func allDecisionIDs(t *testing.T, st *store.DB) []string {
	t.Helper()
	var ids []string
	for after := ""; ; {
		page, next, err := st.ListDecisions(context.Background(), store.DecisionFilter{Limit: store.MaxDecisionLimit, After: after})
		if err != nil {
			t.Fatalf("ListDecisions: %v", err)
		}
		for _, d := range page {
			ids = append(ids, d.ID)
		}
		if after = next; after == "" {
			return ids
		}
	}
}

// TestDecisionRecordsShipAtLeastOnceAcrossOutagesAndRestarts: on PostgreSQL, a CM ships its
// records as OPA events; records committed while the collector is down arrive after it comes
// back, shipped by a new CM on the same database that resumes from the stored position (no
// record already delivered is sent again).
func TestDecisionRecordsShipAtLeastOnceAcrossOutagesAndRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	col := startCollector(t)
	w := startWorld(t, withStore(dsn), named("cm-a"), shipTo(col))
	runCtx, stopA := context.WithCancel(ctx)
	t.Cleanup(stopA)
	aDone := make(chan error, 1)
	go func() { aDone <- w.gateway.Run(runCtx) }()
	alice, mallory := w.login(t, "alice@example.com", "123456"), w.login(t, "mallory@example.com", "")
	decide := func(n int) []string {
		var ids []string
		for i := range n {
			u := alice
			if i%2 == 1 {
				u = mallory
			}
			resp, _, err := w.connect(u, "db-1", "exec")
			id := resp.DecisionID
			if err != nil {
				_, body := statusOf(err)
				id = body.DecisionID
			}
			if id == "" {
				t.Fatalf("connect left no decision id: %v", err)
			}
			ids = append(ids, id)
		}
		return ids
	}

	first := decide(4)
	waitFor(t, 10*time.Second, "the first records at the collector", func() bool {
		for _, id := range first {
			if len(col.got(id)) == 0 {
				return false
			}
		}
		return true
	})
	ev := col.got(first[0])[0]
	rec, err := w.store.GetDecision(ctx, first[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.Bundles[policy.BundleName].Revision != rec.Revision || len(ev.Erased) == 0 || len(ev.Masked) == 0 ||
		ev.RequestedBy == "" || ev.ReqID == 0 || ev.Labels["cm"] != "cm-a" || ev.Metrics[api.MetricEvalNS] != rec.EvalNS {
		t.Errorf("shipped event %+v, want OPA's fields of record %+v", ev, rec)
	}

	// The collector goes down; records keep being committed; the CM stops.
	col.kill()
	during := decide(4)
	waitFor(t, 10*time.Second, "cm-a failing to ship while the collector is down", func() bool {
		got := metricLine(t, w.cm, "portcullis_decision_log_ship_failures_total ")
		return got != "" && got != "portcullis_decision_log_ship_failures_total 0"
	})
	if got := metricLine(t, w.cm, "portcullis_decision_log_shipped_total "); got == "" || got == "portcullis_decision_log_shipped_total 0" {
		t.Errorf("shipped metric %q, want the records shipped before the outage", got)
	}
	stopA()
	if err := <-aDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := w.gateway.ReleaseLease(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := w.store.OutboxLen(ctx); err != nil || n < len(during) {
		t.Fatalf("outbox holds %d records (%v) while the collector is down, want at least %d", n, err, len(during))
	}

	// The collector comes back, and a new CM on the same database resumes.
	col.start()
	b := startCM(t, withStore(dsn), replicaOf(w.cm), named("cm-b"), shipTo(col))
	bCtx, stopB := context.WithCancel(ctx)
	t.Cleanup(stopB)
	go func() { _ = b.gateway.Run(bCtx) }()
	all := allDecisionIDs(t, w.store)
	waitFor(t, 20*time.Second, "every record at the collector", func() bool {
		for _, id := range all {
			if len(col.got(id)) == 0 {
				return false
			}
		}
		return true
	})
	for _, id := range first {
		if n := len(col.got(id)); n != 1 {
			t.Errorf("record %s delivered before the outage arrived %d times; the new CM did not resume from the stored position", id, n)
		}
	}
	for _, id := range during {
		if got := col.got(id)[0]; got.Labels["cm"] != "cm-a" {
			t.Errorf("record %s arrived as %+v, want the record cm-a committed", id, got)
		}
	}
	waitFor(t, 10*time.Second, "an empty outbox", func() bool { n, err := w.store.OutboxLen(ctx); return err == nil && n == 0 })
	t.Logf("%d records shipped; %d committed while the collector was down", len(all), len(during))
}
