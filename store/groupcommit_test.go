package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// testGroupCommitFailsOnlyTheBadRecord: a duplicate id among concurrent inserts (which share
// batches) fails alone with ErrConflict, and every other record commits.
func testGroupCommitFailsOnlyTheBadRecord(t *testing.T, dsn string) {
	const n = 64
	ctx := context.Background()
	db := openStore(t, dsn)
	dup := Decision{ID: "dup", Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{"ok"}}
	if err := db.InsertDecision(ctx, dup); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := Decision{ID: fmt.Sprintf("g-%02d", i), Time: at(time.Duration(i) * time.Millisecond), Subject: "bob@example.com", Reasons: []string{"no"}}
			if i == n/2 {
				d.ID = dup.ID
			}
			errs[i] = db.InsertDecision(ctx, d)
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == n/2 && !errors.Is(err, ErrConflict):
			t.Errorf("duplicate insert = %v, want ErrConflict", err)
		case i != n/2 && err != nil:
			t.Errorf("insert g-%02d = %v; a bad neighbour in its batch must not fail it", i, err)
		}
	}
	if ids := pageAll(t, db, DecisionFilter{Limit: MaxDecisionLimit}); len(ids) != n {
		t.Fatalf("%d decisions committed, want %d (the first dup and %d others)", len(ids), n, n-1)
	}
}

// testGroupCommitHonoursTheCallersContext: a caller whose context has ended gets its error.
func testGroupCommitHonoursTheCallersContext(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.InsertDecision(ctx, Decision{ID: "late", Time: at(0), Subject: "alice@example.com", Reasons: []string{"no"}})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("InsertDecision with a cancelled context = %v, want nil (committed) or context.Canceled", err)
	}
	if err == nil {
		if _, gerr := db.GetDecision(context.Background(), "late"); gerr != nil {
			t.Fatalf("InsertDecision returned nil but the record is missing: %v", gerr)
		}
	}
}
