package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// embeddedMigrations loads the shipped migrations or fails t.
func embeddedMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := loadMigrations(migrationFiles, migrationsDir)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	return ms
}

// countMigrationRows counts the rows of schema_migrations.
func countMigrationRows(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	return n
}

// assertSchema checks that db records exactly the shipped migrations.
func assertSchema(t *testing.T, db *DB, want int) {
	t.Helper()
	v, err := db.SchemaVersion(context.Background())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if n := countMigrationRows(t, db); v != want || n != want {
		t.Fatalf("schema version %d with %d recorded migrations, want %d and %d", v, n, want, want)
	}
}

// testReopen: opening a migrated database again applies nothing and keeps the data.
func testReopen(t *testing.T, dsn string) {
	ctx := context.Background()
	want := len(embeddedMigrations(t))
	first, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if err := first.InsertDecision(ctx, Decision{ID: "kept", Time: t0, Allow: true}); err != nil {
		t.Fatalf("InsertDecision: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		db := openStore(t, dsn)
		assertSchema(t, db, want)
		if _, err := db.GetDecision(ctx, "kept"); err != nil {
			t.Fatalf("decision after re-open: %v", err)
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}
}

// testConcurrentOpen: processes opening a fresh database at once all succeed, and each
// migration is applied once.
func testConcurrentOpen(t *testing.T, dsn string) {
	const openers = 4
	dbs := make([]*DB, openers)
	errs := make([]error, openers)
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), dsn, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("opener %d: %v", i, err)
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	assertSchema(t, dbs[0], len(embeddedMigrations(t)))
}

// testFailedMigration: a migration that fails half-way is rolled back entirely and not recorded;
// a later good one applies; an older binary still opens the newer schema.
func testFailedMigration(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	shipped := embeddedMigrations(t)
	next := len(shipped) + 1
	broken := append(shipped[:len(shipped):len(shipped)], migration{version: next, name: "broken",
		body: "CREATE TABLE half_done (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);"})
	if err := db.applyMigrations(ctx, broken); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("broken migration: err = %v, want an error naming it", err)
	}
	assertSchema(t, db, len(shipped))
	if _, err := db.sql.ExecContext(ctx, "SELECT COUNT(*) FROM half_done"); err == nil {
		t.Fatal("table of the failed migration exists")
	}
	good := append(shipped[:len(shipped):len(shipped)], migration{version: next, name: "extra",
		body: "CREATE TABLE extra (id TEXT PRIMARY KEY, at {{TIME}});\nCREATE INDEX extra_at ON extra (at);"})
	if err := db.applyMigrations(ctx, good); err != nil {
		t.Fatalf("good migration: %v", err)
	}
	assertSchema(t, db, next)
	older := openStore(t, dsn)
	if v, err := older.SchemaVersion(ctx); err != nil || v != next {
		t.Fatalf("older binary on newer schema: version %d, err %v", v, err)
	}
}

// TestLoadMigrations checks the naming and numbering rules of migration files.
func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	cases := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		{"ordered", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A"), "m/README": file("x")}, []int{1, 2}, ""},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, nil, "without gaps"},
		{"repeat", fstest.MapFS{"m/0001_a.sql": file("A"), "m/1_b.sql": file("B")}, nil, "without gaps"},
		{"no name", fstest.MapFS{"m/0001.sql": file("A")}, nil, "NNNN_name.sql"},
		{"not a number", fstest.MapFS{"m/abc_x.sql": file("A")}, nil, "NNNN_name.sql"},
		{"zero", fstest.MapFS{"m/0000_x.sql": file("A")}, nil, "NNNN_name.sql"},
		{"no dir", fstest.MapFS{}, nil, "read migrations"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, err := loadMigrations(c.files, "m")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(c.want) || got[0] != c.want[0] || got[len(got)-1] != c.want[len(c.want)-1] {
				t.Fatalf("versions = %v, want %v", got, c.want)
			}
		})
	}
	if ms, err := loadMigrations(migrationFiles, migrationsDir); err != nil || len(ms) == 0 {
		t.Fatalf("shipped migrations: %d, %v", len(ms), errors.Join(err))
	}
}
