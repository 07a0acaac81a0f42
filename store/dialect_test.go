package store

import "testing"

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
