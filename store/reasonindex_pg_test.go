package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// TestReasonIndexNeedsPgTrgm: a PostgreSQL user who may not create the pg_trgm extension gets
// an error saying what to do, and migration 0012 changes nothing; once an administrator has
// created the extension, the same user migrates.
func TestReasonIndexNeedsPgTrgm(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	role := "portcullis_" + strings.ToLower(rand.Text()[:10])
	for _, stmt := range []string{"CREATE ROLE " + role + " LOGIN", "GRANT CREATE, USAGE ON SCHEMA public TO " + role} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() { // before the database is dropped: the role's tables are in it
		if _, err := admin.ExecContext(ctx, "DROP OWNED BY "+role+"; DROP ROLE "+role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	_, err = Open(ctx, u.String(), nil)
	if err == nil || !strings.Contains(err.Error(), "pg_trgm") || !strings.Contains(err.Error(), "run CREATE EXTENSION pg_trgm;") {
		t.Fatalf("Open without the right to create pg_trgm: %v; want an error naming the extension and what to run", err)
	}
	t.Logf("refused as it should be: %v", err)
	var v12, indexes int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = 12").Scan(&v12); err != nil {
		t.Fatal(err)
	}
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_indexes WHERE indexname = 'decisions_reasons_trgm'").Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	if v12 != 0 || indexes != 0 {
		t.Fatalf("after the refused migration: %d rows of version 12, %d reason indexes; want none", v12, indexes)
	}
	if _, err := admin.ExecContext(ctx, "CREATE EXTENSION pg_trgm"); err != nil {
		t.Fatal(err)
	}
	db := openStore(t, u.String())
	if v, err := db.SchemaVersion(ctx); err != nil || v < 12 {
		t.Fatalf("schema version %d, %v after the extension was created; want 12 or more", v, err)
	}
}
