package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// testDecisionOutbox: every committed decision is queued, oldest first, until acknowledged; a
// record that failed to commit is not queued; a store opened again sees the same queue; a
// queued id whose record was deleted is reported missing.
func testDecisionOutbox(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("dec-%d", i)
		// Inserted newest first: the outbox orders by decision time, not by insertion.
		if err := db.InsertDecision(ctx, Decision{ID: id, Time: at(time.Duration(10-i) * time.Second)}); err != nil {
			t.Fatalf("InsertDecision %s: %v", id, err)
		}
		want = append([]string{id}, want...)
	}
	if err := db.InsertDecision(ctx, Decision{ID: "dec-0", Time: t0}); err == nil {
		t.Fatal("duplicate decision committed")
	}
	cases := []struct {
		name    string
		limit   int
		ack     []string
		wantIDs []string
	}{
		{"first page", 2, nil, want[:2]},
		{"all", 0, nil, want},
		{"after acknowledging two", 10, want[:2], want[2:]},
		{"acknowledging again is harmless", 10, want[:2], want[2:]},
		{"after acknowledging the rest", 10, want[2:], nil},
	}
	for _, c := range cases {
		if err := db.AckOutbox(ctx, c.ack); err != nil {
			t.Fatalf("%s: AckOutbox: %v", c.name, err)
		}
		ds, missing, err := openStore(t, dsn).OutboxDecisions(ctx, c.limit)
		if err != nil {
			t.Fatalf("%s: OutboxDecisions: %v", c.name, err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.ID)
		}
		if !slices.Equal(got, c.wantIDs) || missing != nil {
			t.Errorf("%s: outbox = %v (missing %v), want %v", c.name, got, missing, c.wantIDs)
		}
	}
	if err := db.InsertDecision(ctx, Decision{ID: "gone", Time: t0}); err != nil {
		t.Fatalf("InsertDecision: %v", err)
	}
	if _, err := db.sql.ExecContext(ctx, "DELETE FROM decisions WHERE id = 'gone'"); err != nil {
		t.Fatalf("delete behind the store's back: %v", err)
	}
	ds, missing, err := db.OutboxDecisions(ctx, 10)
	if err != nil || len(ds) != 0 || !slices.Equal(missing, []string{"gone"}) {
		t.Fatalf("outbox of a deleted record = %v, missing %v, err %v; want it missing", ds, missing, err)
	}
	if n, err := db.OutboxLen(ctx); err != nil || n != 1 {
		t.Fatalf("OutboxLen = %d, %v; want 1", n, err)
	}
}
