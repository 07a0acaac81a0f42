package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// logQueueRecords is how many records testLogQueue commits: more than a sequencer step and
// than a page of the log's readers (logPage).
const logQueueRecords = 1100

// testLogQueue: every committed record waits in the sequencer's queue, oldest first, until a
// step logs it; a logged record has its position and leaves the queue; a queued record deleted
// behind the CM's back is skipped, and leaves the queue with the next step that drops vanished
// records; a record written behind the CM's back, outside the queue, is never logged but is
// named among the records not logged.
func testLogQueue(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	// Imported newest first: the queue orders by decision time, not by insertion.
	if err := db.ImportDecisions(ctx, logQueueRecords, func(i int) Decision { return importedDecision(logQueueRecords - 1 - i) }); err != nil {
		t.Fatal(err)
	}
	queued := unloggedIDs(t, db, 2*logQueueRecords)
	if len(queued) != logQueueRecords || queued[0] != importedDecision(0).ID || !slices.IsSorted(queued) {
		t.Fatalf("queued %d records from %q; want all %d, oldest first", len(queued), queued[0], logQueueRecords)
	}
	// Logged in two steps of 300; a third step naming a logged record changes nothing.
	size := uint64(0)
	for range 2 {
		size = appendQueued(t, db, size, 300)
	}
	if err := db.AppendLog(ctx, queuedStep(size, importedDecision(0), importedDecision(700))); err == nil {
		t.Fatal("a record logged twice")
	}
	if got := unloggedIDs(t, db, 2*logQueueRecords); len(got) != logQueueRecords-600 || got[0] != importedDecision(600).ID {
		t.Fatalf("after 600 logged: %d queued from %q; want %d from %q", len(got), got[0], logQueueRecords-600, importedDecision(600).ID)
	}
	var logged []Decision
	if err := db.EachLoggedDecision(ctx, 0, size, func(d Decision) error { logged = append(logged, d); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, d := range logged {
		if d.ID != importedDecision(i).ID || d.LogIndex == nil || *d.LogIndex != uint64(i) {
			t.Fatalf("logged record %d = %s at %v; want %s at %d", i, d.ID, d.LogIndex, importedDecision(i).ID, i)
		}
	}
	if len(logged) != 600 {
		t.Fatalf("%d records logged, want 600", len(logged))
	}
	if d, err := db.GetDecision(ctx, importedDecision(600).ID); err != nil || d.LogIndex != nil {
		t.Fatalf("a queued record: %+v, %v; want no position", d.LogIndex, err)
	}

	// Behind the CM's back: a queued record deleted, a record inserted outside the queue.
	gone, forged := importedDecision(600).ID, "dec-forged"
	rawExec(t, db, "DELETE FROM decisions WHERE id = $1", gone)
	rawExec(t, db, "INSERT INTO decisions ("+decisionFields+") SELECT $1, decided_at, path, 'mallory@example.com', host_id, host_name, allow,"+
		" reasons, input, result, revision, eval_ns, labels, erased, masked, bundles, requested_by, req_id, log_sig, log_mac FROM decisions WHERE id = $2",
		forged, importedDecision(650).ID)
	if got := unloggedIDs(t, db, 1); got[0] != importedDecision(601).ID {
		t.Fatalf("the sequencer reads %q first; want %q (the deleted record skipped)", got[0], importedDecision(601).ID)
	}
	stale := func() int {
		var n int
		if err := db.sql.QueryRowContext(ctx, "SELECT count(*) FROM log_queue WHERE decision_id = $1", gone).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	size = appendQueued(t, db, size, 50)
	if n := stale(); n != 1 {
		t.Fatalf("after a step that does not drop vanished records, the deleted record's queue entries: %d; want it kept", n)
	}
	if got := unloggedIDs(t, db, 1); got[0] != importedDecision(651).ID {
		t.Fatalf("the sequencer reads %q next; want %q", got[0], importedDecision(651).ID)
	}
	ds, err := db.UnloggedDecisions(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	step := queuedStep(size, ds...)
	step.DropVanished = true
	if err := db.AppendLog(ctx, step); err != nil {
		t.Fatal(err)
	}
	size += uint64(len(ds))
	if n := stale(); n != 0 {
		t.Fatalf("after a step that drops vanished records, the deleted record's queue entries: %d; want none", n)
	}
	notLogged, err := db.DecisionsNotLogged(ctx, time.Time{}, time.Time{}, 2*logQueueRecords)
	if err != nil {
		t.Fatal(err)
	}
	ids := decisionIDs(notLogged)
	queuedLeft := logQueueRecords - 701 // 700 logged, one deleted
	if len(ids) != queuedLeft+1 || !slices.Contains(ids, forged) || slices.Contains(ids, importedDecision(700).ID) {
		t.Fatalf("%d records not logged (forged among them: %v); want the %d queued and the forged one", len(ids), slices.Contains(ids, forged), queuedLeft)
	}
	window, err := db.DecisionsNotLogged(ctx, importedDecision(800).Time, importedDecision(802).Time, 10)
	if err != nil || !slices.Equal(decisionIDs(window), []string{importedDecision(800).ID, importedDecision(801).ID}) {
		t.Fatalf("not logged within [800, 802): %v, %v", decisionIDs(window), err)
	}
	for len(unloggedIDs(t, db, 1)) > 0 {
		size = appendQueued(t, db, size, 256)
	}
	if got, _ := db.DecisionsNotLogged(ctx, time.Time{}, time.Time{}, 10); len(got) != 1 || got[0].ID != forged {
		t.Fatalf("after the queue emptied, not logged: %v; want only %s", decisionIDs(got), forged)
	}
	if size != logQueueRecords-1 {
		t.Fatalf("the log holds %d records, want %d (all but the deleted one)", size, logQueueRecords-1)
	}
}

// appendQueued logs the next n queued records after a log of size records, as the sequencer
// does, and returns the new size.
func appendQueued(t *testing.T, db *DB, size uint64, n int) uint64 {
	t.Helper()
	ds, err := db.UnloggedDecisions(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendLog(context.Background(), queuedStep(size, ds...)); err != nil {
		t.Fatalf("log %d records after %d: %v", len(ds), size, err)
	}
	return size + uint64(len(ds))
}

// queuedStep is a sequencer step that logs ds after a log of size records.
func queuedStep(size uint64, ds ...Decision) LogAppend {
	a := LogAppend{FromSize: size, Checkpoint: LogCheckpoint{Size: size + uint64(len(ds)), Root: []byte("r"), Note: "n", SignedAt: at(0)}}
	for i, d := range ds {
		idx := size + uint64(i)
		hash := []byte(fmt.Sprintf("leaf %d", idx))
		a.Leaves = append(a.Leaves, LogLeaf{Index: idx, DecisionID: d.ID, Time: d.Time, Hash: hash})
		a.Nodes = append(a.Nodes, LogNode{Level: 0, Index: idx, Hash: hash})
	}
	return a
}

// unloggedIDs is the ids of the first limit queued records.
func unloggedIDs(t *testing.T, db *DB, limit int) []string {
	t.Helper()
	ds, err := db.UnloggedDecisions(context.Background(), limit)
	if err != nil {
		t.Fatal(err)
	}
	return decisionIDs(ds)
}

// decisionIDs is the ids of ds, in order.
func decisionIDs(ds []Decision) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

// rawExec runs a statement on the database directly, as someone with access to it would.
func rawExec(t *testing.T, db *DB, query string, args ...any) {
	t.Helper()
	if _, err := db.sql.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// testLogQueueMigration: migration 0015 queues the records committed but not logged before it,
// and the logged ones keep their positions.
func testLogQueueMigration(t *testing.T, dsn string) {
	ctx := context.Background()
	before, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, stmt := range []string{"DROP TABLE log_queue", "ALTER TABLE decisions ADD COLUMN log_index BIGINT",
		"CREATE UNIQUE INDEX decisions_log_index ON decisions (log_index)",
		"CREATE INDEX decisions_unlogged ON decisions (decided_at, id) WHERE log_index IS NULL",
		"DELETE FROM schema_migrations WHERE version = 15"} {
		if _, err := before.sql.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	const logged = 2
	for i := range 5 {
		d := importedDecision(i)
		var index any
		if i < logged {
			index = int64(i)
		}
		_, err := before.sql.ExecContext(ctx, "INSERT INTO decisions (id, decided_at, path, subject, host_id, host_name, allow, reasons, input, result,"+
			" revision, eval_ns, labels, log_index) VALUES ($1, $2, 'p', 's', '', '', $3, '[]', '{}', '{}', '', 0, '{}', $4)", d.ID, before.d.timeArg(d.Time), false, index)
		if err == nil && i < logged {
			_, err = before.sql.ExecContext(ctx, "INSERT INTO log_leaves (idx, decision_id, decided_at, leaf_hash) VALUES ($1, $2, $3, $4)",
				int64(i), d.ID, before.d.timeArg(d.Time), []byte("h"))
		}
		if err != nil {
			t.Fatalf("record %d before migration 0015: %v", i, err)
		}
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	db := openStore(t, dsn) // applies 0015 again
	want := []string{importedDecision(2).ID, importedDecision(3).ID, importedDecision(4).ID}
	if got := unloggedIDs(t, db, 10); !slices.Equal(got, want) {
		t.Fatalf("queued after the migration: %v, want %v", got, want)
	}
	for i := range logged {
		d, err := db.GetDecision(ctx, importedDecision(i).ID)
		if err != nil || d.LogIndex == nil || *d.LogIndex != uint64(i) {
			t.Fatalf("record %d after the migration: position %v, %v; want %d", i, d.LogIndex, err, i)
		}
	}
}
