package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// reasonIndexRecords is the size of the log the reason index is compared on.
const reasonIndexRecords = 1500

// reasonSamples are the reasons of the comparison log, cycled through; the last is the reason of
// one record only.
func reasonSamples() [][]string {
	return [][]string{
		{"ops may reach prod with MFA"},
		{"Outside the change window"},
		{"outside working hours", "host is tagged PROD"},
		{"100% of the quota is used"},
		{"snake_case_reason"},
		{"wow! an escape!char"},
		{`say "hi" to C:\path`},
		{"Größe ÉCOLE école"},
		{"İstanbul office"},
		{"ΣΊΣΥΦΟΣ σίσυφος"},
		{"Жёлтый доступ"},
		{"emoji 🔐 lock"},
		{"line\nbreak\ttab"},
		{"<b>&amp;</b>"},
		{`trailing backslash\`, "next"},
		nil,
		{"a", "b"},
		{"xy"},
		{"MFA"},
		{"break-glass used by the on-call engineer"},
	}
}

// reasonIndexLog is the comparison log: reasonIndexRecords records, the last sample once.
func reasonIndexLog() func(i int) Decision {
	samples := reasonSamples()
	return func(i int) Decision {
		reasons := samples[i%(len(samples)-1)]
		if i == reasonIndexRecords/2 {
			reasons = samples[len(samples)-1]
		}
		return Decision{ID: fmt.Sprintf("r-%05d", (i*7919)%reasonIndexRecords), Time: at(time.Duration(i/3) * time.Second),
			Path: "/v1/connect", Subject: []string{"alice", "bob"}[i%2], Allow: i%3 != 0, Reasons: reasons}
	}
}

// reasonPatterns are the reason filters compared: long and short (1–2 characters), any case,
// LIKE's wildcards and escape character, JSON's escapes, non-ASCII letters, spanning elements.
func reasonPatterns() []struct {
	reason string
	some   bool // whether the filter selects anything on SQLite (PostgreSQL's ILIKE may fold more than ASCII case)
} {
	return []struct {
		reason string
		some   bool
	}{
		{"MFA", true}, {"mfa", true}, {"ops may reach PROD", true}, {"outside the change window", true},
		{"OUTSIDE", true}, {"prod", true}, {"break-glass", true}, {"BREAK-GLASS USED BY THE ON-CALL", true},
		{"no such reason at all", false}, {"%", true}, {"100%", true}, {"0%_", false}, {"_", true},
		{"e_c", true}, {"e%c", false}, {"!", true}, {"wow!", true}, {"!c", true}, {`"hi"`, true},
		{`\`, true}, {`C:\path`, true}, {"\n", true}, {"line\nbreak", true}, {"\t", true},
		{"&amp;", true}, {"<b>", true}, {"école", true}, {"ÉCOLE", true}, {"größe", true},
		{"GRÖSSE", false}, {"İstanbul", true}, {"σίσυφος", true}, {"ΣΊΣΥΦΟΣ", true}, {"Жёлтый", true}, {"жёлтый", false},
		{"Жё", true}, {"🔐", true}, {"🔐 lock", true}, {"a", true}, {"A", true}, {"xy", true},
		{"é", true}, {" ", true}, {"a\",\"b", false}, {"\"", true}, {"[]", true}, {"next", true},
		{"kslash\\", true}, {"q", true}, {"qz", false}, {"zzz", false},
	}
}

// testReasonIndexMatchesScan: over a varied log, the reason filter read through the reason index
// selects exactly what the plain scan does (the filter before migration 0012), on every page,
// and ListDecisions (whichever way it reads) returns the same.
func testReasonIndexMatchesScan(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	if err := db.ImportDecisions(ctx, reasonIndexRecords, reasonIndexLog()); err != nil {
		t.Fatalf("ImportDecisions: %v", err)
	}
	for _, p := range reasonPatterns() {
		for _, f := range []DecisionFilter{{Reason: p.reason}, {Reason: p.reason, Subject: "bob", Allow: ptr(true)}} {
			scan := readReasonPages(t, db, f, false)
			index := readReasonPages(t, db, f, true)
			f.Limit = 70
			listed := pageAll(t, db, f)
			if !slices.Equal(index, scan) || !slices.Equal(listed, scan) {
				t.Errorf("reason %q (%+v): scan selects %d, the index %d, ListDecisions %d; differences: %v",
					p.reason, f, len(scan), len(index), len(listed), firstDifference(scan, index, listed))
			}
			if f.Subject == "" && (len(scan) > 0) != p.some && (db.d.kind == kindSQLite || p.some) {
				t.Errorf("reason %q selects %d records, want some: %v", p.reason, len(scan), p.some)
			}
		}
	}
}

// firstDifference names the first position where the id lists differ.
func firstDifference(lists ...[]string) string {
	for i := 0; ; i++ {
		var at []string
		done := true
		for _, l := range lists {
			if i < len(l) {
				at = append(at, l[i])
				done = false
			} else {
				at = append(at, "(end)")
			}
		}
		if done {
			return "none"
		}
		if slices.ContainsFunc(at, func(s string) bool { return s != at[0] }) {
			return fmt.Sprintf("at %d: %v", i, at)
		}
	}
}

// readReasonPages reads every page of f, by the reason index when byIndex (on PostgreSQL: with
// plain index scans and sequential scans off, so that the GIN index's bitmap scan serves the
// ILIKE), else by a scan (on PostgreSQL: bitmap scans off, which no GIN index serves without).
func readReasonPages(t *testing.T, db *DB, f DecisionFilter, byIndex bool) []string {
	t.Helper()
	ctx := context.Background()
	f.Limit = MaxDecisionLimit
	var ids []string
	for {
		query, args, limit, err := db.decisionQuery(f, byIndex && db.d.kind == kindSQLite)
		if err != nil {
			t.Fatalf("decisionQuery: %v", err)
		}
		var page []Decision
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			if err := setReasonPlan(ctx, tx, db, byIndex); err != nil {
				return err
			}
			page, err = queryAll(ctx, tx, scanDecision, query, args...)
			return err
		})
		if err != nil {
			t.Fatalf("reason %q: %v", f.Reason, err)
		}
		for _, d := range page[:min(len(page), limit)] {
			ids = append(ids, d.ID)
		}
		if len(page) <= limit {
			return ids
		}
		f.After = DecisionCursor(page[limit-1])
	}
}

// setReasonPlan steers PostgreSQL's planner in tx to the GIN index (byIndex) or away from it.
func setReasonPlan(ctx context.Context, tx *sql.Tx, db *DB, byIndex bool) error {
	if db.d.kind == kindSQLite {
		return nil
	}
	off := []string{"enable_bitmapscan"}
	if byIndex {
		off = []string{"enable_seqscan", "enable_indexscan", "enable_indexonlyscan"}
	}
	for _, o := range off {
		if _, err := tx.ExecContext(ctx, "SET LOCAL "+o+" = off"); err != nil {
			return err
		}
	}
	return nil
}

// testReasonQueryUsesIndex: a rare reason is read through the reason index, a short one (no
// trigram) are not, on SQLite; PostgreSQL's GIN index serves the rare reason's ILIKE.
func testReasonQueryUsesIndex(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	if err := db.ImportDecisions(ctx, reasonIndexRecords, reasonIndexLog()); err != nil {
		t.Fatalf("ImportDecisions: %v", err)
	}
	rares := []DecisionFilter{{Reason: "break-glass"}}
	if db.d.kind == kindSQLite { // (PostgreSQL's planner rightly reads bob's few records here)
		rares = append(rares, DecisionFilter{Reason: "break-glass", Subject: "bob"})
	}
	for _, rare := range rares {
		// On a table this small PostgreSQL's planner rightly prefers the time-ordered scan (the
		// bench's scaling section shows its choice at size); with that off, the plan shows that
		// the GIN index serves the filter's ILIKE … ESCAPE as written.
		plan, err := explainWithout(ctx, db, rare, "enable_seqscan", "enable_indexscan")
		if err != nil {
			t.Fatalf("explain: %v", err)
		}
		want := []string{"decisions_reasons_trgm"}
		if db.d.kind == kindSQLite { // the candidates by id, not another index's records looked up among them
			want = []string{"decision_reason_index VIRTUAL TABLE", "SEARCH decisions USING INDEX sqlite_autoindex_decisions_1 (id=?)"}
		}
		for _, w := range want {
			if !strings.Contains(plan, w) {
				t.Errorf("%+v: plan does not read the reason index (%s):\n%s", rare, w, plan)
			}
		}
	}
	if db.d.kind != kindSQLite {
		return
	}
	for _, reason := range []string{"break-glass", "MFA", "xy", "é", "\n"} {
		if byIndex, err := db.reasonByIndex(ctx, reason); err != nil || !byIndex {
			t.Errorf("reasonByIndex(%q) = %v, %v; want the index", reason, byIndex, err)
		}
	}
}

// reasonIndexObjects are the statements that drop migration 0012's objects, per database.
var reasonIndexObjects = map[kind][]string{
	kindSQLite: {"DROP TRIGGER decision_reasons_insert", "DROP TRIGGER decision_reasons_update",
		"DROP TRIGGER decision_reason_texts_insert", "DROP TABLE decision_reason_index",
		"DROP TABLE decision_reason_refs", "DROP TABLE decision_reason_texts"},
	kindPostgres: {"DROP INDEX decisions_reasons_trgm"},
}

// testReasonIndexCoversOlderRecords: migration 0012 indexes the records logged before it.
func testReasonIndexCoversOlderRecords(t *testing.T, dsn string) {
	ctx := context.Background()
	before, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, stmt := range append(reasonIndexObjects[before.d.kind], "DELETE FROM schema_migrations WHERE version = 12") {
		if _, err := before.sql.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	err = before.ImportDecisions(ctx, reasonIndexRecords, reasonIndexLog())
	if cerr := before.Close(); err != nil || cerr != nil {
		t.Fatalf("records before migration 0012: %v, close: %v", err, cerr)
	}
	db := openStore(t, dsn) // applies 0012 again
	for _, reason := range []string{"break-glass", "PROD", "école", "xy", "%"} {
		f := DecisionFilter{Reason: reason}
		scan, index := readReasonPages(t, db, f, false), readReasonPages(t, db, f, true)
		if len(scan) == 0 || !slices.Equal(index, scan) {
			t.Errorf("reason %q: the index selects %d older records, the scan %d", reason, len(index), len(scan))
		}
	}
}
