package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

func TestImportDecisionsSQLite(t *testing.T) {
	testImportDecisions(t, "sqlite:"+filepath.Join(t.TempDir(), "import.db"))
}

func TestImportDecisionsPostgres(t *testing.T) { testImportDecisions(t, pgtest.Start(t)) }

// importedDecision is the i-th record of the import tests.
func importedDecision(i int) Decision {
	return Decision{ID: fmt.Sprintf("imp-%06d", i), Time: at(time.Duration(i) * time.Second), Path: "portcullis/authz/decision",
		Subject: "alice@example.com", HostName: "db-1", Allow: i%2 == 0, Reasons: []string{}, Input: json.RawMessage(`{}`),
		Result: json.RawMessage(`{"allow":true}`)}
}

func testImportDecisions(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	n := importBatch + 500 // two transactions
	if err := db.ImportDecisions(ctx, n, importedDecision); err != nil {
		t.Fatalf("ImportDecisions: %v", err)
	}
	page, _, err := db.ListDecisions(ctx, DecisionFilter{Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != importedDecision(n-1).ID || page[1].ID != importedDecision(n-2).ID {
		t.Fatalf("newest page = %+v, %v; want the last two imported", page, err)
	}
	queued, _, err := db.OutboxDecisions(ctx, 10)
	if err != nil || len(queued) != 10 || queued[0].ID != importedDecision(0).ID {
		t.Fatalf("outbox = %d records, %v; want the imported ones queued for shipping, oldest first", len(queued), err)
	}
	// A bad record fails its transaction only: the batch before it stays, its own is rolled back.
	bad := []struct {
		name   string
		record func(d Decision) Decision
	}{
		{"no id", func(d Decision) Decision { d.ID = ""; return d }},
		{"a duplicate id", func(Decision) Decision { return importedDecision(3) }},
	}
	for c, b := range bad {
		base := n + c*2*importBatch // ids no other case uses
		record := func(i int) Decision {
			if i == importBatch+7 {
				return b.record(importedDecision(base + i))
			}
			return importedDecision(base + i)
		}
		t.Run(b.name, func(t *testing.T) {
			err := db.ImportDecisions(ctx, importBatch+10, record)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrConflict) {
				t.Fatalf("ImportDecisions = %v, want ErrInvalid or ErrConflict", err)
			}
			if _, err := db.GetDecision(ctx, record(importBatch-1).ID); err != nil {
				t.Errorf("the first batch's last record: %v, want committed", err)
			}
			if _, err := db.GetDecision(ctx, record(importBatch).ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("the failed batch's first record: %v, want rolled back", err)
			}
		})
	}
}
