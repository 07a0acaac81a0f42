package store

import (
	"context"
	"database/sql"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDialectBlocks: a migration's "-- {{IF …}}" blocks are kept for the databases they name
// only; the lines outside blocks are kept for every database.
func TestDialectBlocks(t *testing.T) {
	ddl := "A;\n-- {{IF sqlite}}\nS;\n-- {{END}}\nB;\n  -- {{IF postgres,cockroach}}\nP;\n-- {{END}}\nC;"
	for k, want := range map[kind]string{
		kindSQLite:    "A;\nS;\nB;\nC;",
		kindPostgres:  "A;\nB;\nP;\nC;",
		kindCockroach: "A;\nB;\nP;\nC;",
	} {
		if got := (dialect{kind: k}).dialectBlocks(ddl); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := (dialect{kind: kindSQLite}).dialectBlocks("X;\n"); got != "X;\n" {
		t.Errorf("without blocks: %q", got)
	}
}

// TestACockroachTransactionRefusesAConnectionOfItsOwn: CockroachDB's retrying transactions
// run on the pool; handed a single connection (only SQLite's writers hold one), inTx refuses
// without beginning a transaction or running fn.
func TestACockroachTransactionRefusesAConnectionOfItsOwn(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "portcullis.db"))
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ran := false
	err = dialect{kind: kindCockroach}.inTx(ctx, conn, db.log, func(*sql.Tx) error { ran = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "runs on the pool") {
		t.Errorf("inTx on a connection: %v, want a refusal", err)
	}
	if ran {
		t.Error("fn ran")
	}
}

// TestEveryDatabaseGetsTheSameTables: replaying the migrations as each database sees them
// (their "-- {{IF …}}" blocks kept or dropped) leaves PostgreSQL and CockroachDB with the same
// tables and indexes, and SQLite with the same tables but for its own reason index. Migration
// 15 once created log_queue in a postgres-only block: on CockroachDB the migration failed and
// every decision insert wrote to a table that did not exist.
func TestEveryDatabaseGetsTheSameTables(t *testing.T) {
	ms, err := loadMigrations(migrationFiles, migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	pgTables, pgIndexes := replaySchema(ms, kindPostgres)
	crTables, crIndexes := replaySchema(ms, kindCockroach)
	if !slices.Equal(pgTables, crTables) || !slices.Equal(pgIndexes, crIndexes) {
		t.Errorf("PostgreSQL has tables %v and indexes %v; CockroachDB %v and %v", pgTables, pgIndexes, crTables, crIndexes)
	}
	sqliteTables, _ := replaySchema(ms, kindSQLite)
	sqliteOnly := []string{"decision_reason_refs", "decision_reason_texts"} // its reason index (pg_trgm elsewhere)
	if want := slices.Sorted(slices.Values(append(slices.Clone(pgTables), sqliteOnly...))); !slices.Equal(sqliteTables, want) {
		t.Errorf("SQLite has tables %v, want %v", sqliteTables, want)
	}
	if !slices.Contains(crTables, "log_queue") {
		t.Errorf("CockroachDB has no log_queue: %v", crTables)
	}
}

// schemaChange matches the statements that create, drop or rename a table or an index.
var schemaChange = regexp.MustCompile(`(?i)\b(?:(CREATE|DROP)\s+(TABLE|(?:UNIQUE\s+)?INDEX)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(\w+)|ALTER\s+TABLE\s+(\w+)\s+RENAME\s+TO\s+(\w+))`)

// replaySchema is the tables and the indexes that the migrations leave on a database of kind
// k, each sorted by name.
func replaySchema(ms []migration, k kind) (tables, indexes []string) {
	ts, is := map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		for _, c := range schemaChange.FindAllStringSubmatch(dialect{kind: k}.expandTypes(m.body), -1) {
			if c[4] != "" { // a table renamed
				delete(ts, strings.ToLower(c[4]))
				ts[strings.ToLower(c[5])] = true
				continue
			}
			set := ts
			if strings.ToUpper(c[2]) != "TABLE" {
				set = is
			}
			if strings.EqualFold(c[1], "CREATE") {
				set[strings.ToLower(c[3])] = true
			} else {
				delete(set, strings.ToLower(c[3]))
			}
		}
	}
	return slices.Sorted(maps.Keys(ts)), slices.Sorted(maps.Keys(is))
}
