package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// benchDecisions is the size of the decision log the query benchmarks run on.
const benchDecisions = 1_000_000

// BenchmarkListDecisionsSQLite measures one page of every auditor filter on a million records.
func BenchmarkListDecisionsSQLite(b *testing.B) {
	benchListDecisions(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
}

// BenchmarkListDecisionsPostgres is BenchmarkListDecisionsSQLite on a real PostgreSQL.
func BenchmarkListDecisionsPostgres(b *testing.B) {
	benchListDecisions(b, pgtest.Start(b))
}

func benchListDecisions(b *testing.B, dsn string) {
	ctx := context.Background()
	db, err := Open(ctx, dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := fillDecisions(ctx, db, benchDecisions); err != nil {
		b.Fatal(err)
	}
	for name, f := range decisionQueryFilters() {
		b.Run(name, func(b *testing.B) {
			f.Limit = DefaultDecisionLimit
			for b.Loop() {
				if _, _, err := db.ListDecisions(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fillDecisions inserts n decisions spread over the past 30 days (ImportDecisions).
func fillDecisions(ctx context.Context, db *DB, n int) error {
	subjects := []string{"alice@example.com", "bob@example.com", "carol@example.com", "mallory@example.com"}
	hosts := []string{"web-1", "db-1", "kiosk-7"}
	reasons := decisionReasons()
	input := json.RawMessage(`{"subject":{"id":"bob@example.com"},"request":{"action":"connect"}}`)
	return db.ImportDecisions(ctx, n, func(i int) Decision {
		return Decision{
			ID: fmt.Sprintf("dec-%08d", i), Time: at(time.Duration(i) * 2600 * time.Millisecond), Path: "portcullis/authz/decision",
			Subject: subjects[i%len(subjects)], HostID: "id-" + hosts[i%len(hosts)], HostName: hosts[i%len(hosts)],
			Allow: i%3 != 0, Reasons: reasons[i%len(reasons)], Input: input, Result: json.RawMessage(`{"allow":true}`),
		}
	})
}
