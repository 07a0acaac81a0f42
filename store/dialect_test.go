package store

import (
	"context"
	"database/sql"
	"path/filepath"
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
