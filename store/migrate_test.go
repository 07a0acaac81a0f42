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

// assertSchema checks that db records exactly the migrations ms.
func assertSchema(t *testing.T, db *DB, ms []migration) {
	t.Helper()
	v, err := db.SchemaVersion(context.Background())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if n := countMigrationRows(t, db); v != lastVersion(ms) || n != len(ms) {
		t.Fatalf("schema version %d with %d recorded migrations, want %d and %d", v, n, lastVersion(ms), len(ms))
	}
}

// testReopen: opening a migrated database again applies nothing and keeps the data.
func testReopen(t *testing.T, dsn string) {
	ctx := context.Background()
	want := embeddedMigrations(t)
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
	assertSchema(t, dbs[0], embeddedMigrations(t))
}

// testFailedMigration: a migration that fails half-way is rolled back entirely and not recorded;
// a later good one applies; an older binary still opens the newer schema.
func testFailedMigration(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	shipped := embeddedMigrations(t)
	next := lastVersion(shipped) + 1
	broken := append(shipped[:len(shipped):len(shipped)], migration{version: next, name: "broken",
		body: "CREATE TABLE half_done (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);"})
	if err := db.applyMigrations(ctx, broken); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("broken migration: err = %v, want an error naming it", err)
	}
	assertSchema(t, db, shipped)
	if _, err := db.sql.ExecContext(ctx, "SELECT COUNT(*) FROM half_done"); err == nil {
		t.Fatal("table of the failed migration exists")
	}
	good := append(shipped[:len(shipped):len(shipped)], migration{version: next, name: "extra",
		body: "CREATE TABLE extra (id TEXT PRIMARY KEY, at {{TIME}});\nCREATE INDEX extra_at ON extra (at);"})
	if err := db.applyMigrations(ctx, good); err != nil {
		t.Fatalf("good migration: %v", err)
	}
	assertSchema(t, db, good)
	older := openStore(t, dsn)
	if v, err := older.SchemaVersion(ctx); err != nil || v != next {
		t.Fatalf("older binary on newer schema: version %d, err %v", v, err)
	}
	// A version below one already applied (merged from another branch later) still applies.
	after := append(good[:len(good):len(good)], migration{version: next + 2, name: "after", body: "CREATE TABLE after_gap (id TEXT PRIMARY KEY);"})
	if err := db.applyMigrations(ctx, after); err != nil {
		t.Fatalf("migration after a gap: %v", err)
	}
	late := append(good[:len(good):len(good)], migration{version: next + 1, name: "late", body: "CREATE TABLE late (id TEXT PRIMARY KEY);"}, after[len(after)-1])
	if err := db.applyMigrations(ctx, late); err != nil {
		t.Fatalf("migration filling a gap: %v", err)
	}
	assertSchema(t, db, late)
	if _, err := db.sql.ExecContext(ctx, "SELECT COUNT(*) FROM late"); err != nil {
		t.Fatalf("table of the gap-filling migration: %v", err)
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
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, []int{1, 3}, ""},
		{"repeat", fstest.MapFS{"m/0001_a.sql": file("A"), "m/1_b.sql": file("B")}, nil, "repeats"},
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

// TestHasStatements: a migration body left with only blank and comment lines for a database
// family (its blocks are all for others) runs nothing; anything else runs.
func TestHasStatements(t *testing.T) {
	cases := []struct {
		name, ddl string
		want      bool
	}{
		{"empty", "", false},
		{"comments and blank lines", "-- a note\n\n   -- indented note\n", false},
		{"a statement", "CREATE TABLE t (id TEXT);", true},
		{"a statement after comments", "-- why\n\nDROP INDEX i;\n", true},
		{"a statement with a trailing comment", "SELECT 1; -- one", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := hasStatements(c.ddl); got != c.want {
				t.Errorf("hasStatements(%q) = %v, want %v", c.ddl, got, c.want)
			}
		})
	}
}
