package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// health GETs a health path without credentials and returns the status and the body.
func (c *cm) health(t *testing.T, path string) (int, api.Health) {
	t.Helper()
	res, err := c.http.Get(c.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var h api.Health
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		t.Fatalf("GET %s: body: %v", path, err)
	}
	return res.StatusCode, h
}

// A load balancer asks, without credentials: /healthz is 200 while the CM serves; /readyz is
// 200 while the database answers, 503 while it is down, and 200 again once it is back. Nothing
// of it reaches the decision log.
func TestHealthAndReadinessFollowTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, dsn := startPostgreSQL(t)
	c := startCM(t, withStore(dsn))
	before, _, err := c.store.ListDecisions(ctx, store.DecisionFilter{Limit: store.MaxDecisionLimit})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		change  func() error
		ready   int
		reason  string
		timeout time.Duration
	}{
		{"database up", func() error { return nil }, http.StatusOK, "", 0},
		{"database halted", func() error { return pg.Halt(ctx) }, http.StatusServiceUnavailable, "store unavailable", 0},
		{"database resumed", func() error { return pg.Resume(ctx) }, http.StatusOK, "", recoveryDeadline},
	}
	for _, step := range steps {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		deadline := time.Now().Add(step.timeout)
		for {
			status, h := c.health(t, api.PathReadyz)
			if status == step.ready && h.Reason == step.reason {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: readyz = %d %+v, want %d %q", step.name, status, h, step.ready, step.reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if status, h := c.health(t, api.PathHealthz); status != http.StatusOK || h.Status != api.HealthOK {
			t.Errorf("%s: healthz = %d %+v, want 200 ok", step.name, status, h)
		}
	}
	after, _, err := c.store.ListDecisions(ctx, store.DecisionFilter{Limit: store.MaxDecisionLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the health checks left %d decision records", len(after)-len(before))
	}
}

// A CM without a policy to decide with is alive but not ready.
func TestACMWithoutAPolicyIsAliveButNotReady(t *testing.T) {
	t.Parallel()
	c := startCM(t, withPolicy(&swappable{}))
	for _, check := range []struct {
		path   string
		status int
		want   api.Health
	}{
		{api.PathHealthz, http.StatusOK, api.Health{Status: api.HealthOK}},
		{api.PathReadyz, http.StatusServiceUnavailable, api.Health{Status: api.HealthUnavailable, Reason: "no policy loaded"}},
	} {
		if status, h := c.health(t, check.path); status != check.status || h != check.want {
			t.Errorf("%s = %d %+v, want %d %+v", check.path, status, h, check.status, check.want)
		}
	}
}
