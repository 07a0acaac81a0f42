package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// insertBenchBatches are how many records one transaction of BenchmarkInsertDecisions commits,
// as a group commit does on a quiet and on a busy CM.
var insertBenchBatches = []int{1, 16, 64}

// BenchmarkInsertDecisions measures committing decision records in multi-row batches with the
// reason index of migration 0012 and without it (its triggers or index dropped): wall time per batch,
// the process's CPU per record (on SQLite the database's work runs in it) and, on PostgreSQL,
// the server's CPU per record (Linux).
func BenchmarkInsertDecisions(b *testing.B) {
	for _, store := range []struct {
		name string
		dsn  func(b *testing.B) string
		drop []string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "bench.db") },
			[]string{"DROP TRIGGER decision_reasons_insert", "DROP TRIGGER decision_reasons_update"}},
		{"postgres", func(b *testing.B) string { return pgtest.Start(b) }, []string{"DROP INDEX decisions_reasons_trgm"}},
	} {
		for _, size := range insertBenchBatches {
			for _, index := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/batch=%d/reason_index=%v", store.name, size, index), func(b *testing.B) {
					db := openBench(b, store.dsn(b))
					if !index {
						for _, stmt := range store.drop {
							if _, err := db.sql.Exec(stmt); err != nil {
								b.Fatal(err)
							}
						}
					}
					benchInsertBatches(b, db, size)
				})
			}
		}
	}
}

// openBench opens dsn for a benchmark and closes it at cleanup.
func openBench(b *testing.B, dsn string) *DB {
	b.Helper()
	db, err := Open(context.Background(), dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchInsertBatches commits batches of size records until b is done.
func benchInsertBatches(b *testing.B, db *DB, size int) {
	ctx := context.Background()
	record := reasonIndexLog()
	n := 0
	cpu0, cpuOK := processCPU()
	server0, serverOK := serverCPU(ctx, db)
	for b.Loop() {
		batch := make([]*pendingInsert, size)
		for i := range batch {
			d := record(n % reasonIndexRecords)
			d.ID, d.Time = fmt.Sprintf("b-%09d", n), at(time.Duration(n)*time.Millisecond)
			args, err := db.decisionArgs(d)
			if err != nil {
				b.Fatal(err)
			}
			batch[i] = &pendingInsert{args: args}
			n++
		}
		if err := db.inTx(ctx, func(tx *sql.Tx) error { return db.insertDecisions(ctx, tx, batch) }); err != nil {
			b.Fatal(err)
		}
	}
	if cpu1, ok := processCPU(); ok && cpuOK && n > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(n), "cpu-µs/record")
	}
	if server1, ok := serverCPU(ctx, db); ok && serverOK && n > 0 {
		b.ReportMetric(float64((server1-server0).Microseconds())/float64(n), "server-cpu-µs/record")
	}
}
