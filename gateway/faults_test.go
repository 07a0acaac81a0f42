package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// recoveryDeadline bounds how long the CM may take to serve again once the database is back;
// it is generous on purpose (it guards against hanging, it measures nothing).
const recoveryDeadline = 60 * time.Second

func TestWithTheDatabaseDownConnectsAreRefusedWith503AndTheCMRecoversByItself(t *testing.T) {
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
	w := startWorld(t, withStore(dsn))
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
