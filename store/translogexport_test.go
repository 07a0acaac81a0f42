package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// loggedStore is a SQLite store with n imported records, the first logged ones logged.
func loggedStore(t *testing.T, n, logged int) (*DB, uint64) {
	t.Helper()
	db := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err := db.ImportDecisions(context.Background(), n, importedDecision); err != nil {
		t.Fatal(err)
	}
	return db, appendQueued(t, db, 0, logged)
}

func TestLogRangeWidensToProvableBounds(t *testing.T) {
	sec := func(s float64) time.Time { return at(time.Duration(s * float64(time.Second))) }
	for _, c := range []struct {
		name         string
		tamper       string // SQL run before LogRange
		since, until time.Time
		from, to     uint64
	}{
		{"the whole log", "", time.Time{}, time.Time{}, 0, 10},
		{"a closed window", "", sec(2), sec(8), 2, 8},
		{"an open window", "", sec(2), time.Time{}, 2, 10},
		{"an empty window inside the log", "", sec(3.5), sec(3.7), 4, 4},
		{"an empty window after the log", "", sec(20), time.Time{}, 10, 10},
		{"a record decided after the window, logged before it", "UPDATE log_leaves SET decided_at = (SELECT decided_at FROM log_leaves WHERE idx = 9) WHERE idx = 1", sec(2), sec(8), 1, 8},
		{"a record decided before the window, logged after it", "UPDATE log_leaves SET decided_at = (SELECT decided_at FROM log_leaves WHERE idx = 0) WHERE idx = 8", sec(2), sec(8), 2, 9},
		{"leaf times moved before an open window", "UPDATE log_leaves SET decided_at = (SELECT decided_at FROM log_leaves WHERE idx = 0) WHERE idx >= 8", sec(2), time.Time{}, 2, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, _ := loggedStore(t, 10, 10)
			if c.tamper != "" {
				rawExec(t, db, c.tamper)
			}
			from, to, err := db.LogRange(context.Background(), c.since, c.until)
			if err != nil {
				t.Fatal(err)
			}
			if from != c.from || to != c.to {
				t.Fatalf("LogRange = [%d, %d), want [%d, %d)", from, to, c.from, c.to)
			}
		})
	}
}

func TestLogExportSnapshotHoldsEveryRecordOnce(t *testing.T) {
	for _, c := range []struct {
		name          string
		logged        int
		step          func(t *testing.T, db *DB, size uint64) // between the pending read and the checkpoint
		limit         int
		wantTruncated bool
	}{
		{"nothing happens meanwhile", 5, func(*testing.T, *DB, uint64) {}, 100, false},
		{"the sequencer logs the pending records meanwhile", 5, func(t *testing.T, db *DB, size uint64) { appendQueued(t, db, size, 5) }, 100, false},
		{"the sequencer logs some pending records meanwhile", 5, func(t *testing.T, db *DB, size uint64) { appendQueued(t, db, size, 2) }, 100, false},
		{"leaf times moved out of the window", 10, func(t *testing.T, db *DB, _ uint64) {
			rawExec(t, db, "UPDATE log_leaves SET decided_at = 0 WHERE idx >= 8")
		}, 100, false},
		{"more records not logged than the limit", 2, func(*testing.T, *DB, uint64) {}, 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, size := loggedStore(t, 10, c.logged)
			ctx := context.Background()
			e, err := db.logExportSnapshot(ctx, at(0), at(0).AddDate(1, 0, 0), c.limit, func() { c.step(t, db, size) })
			if err != nil {
				t.Fatal(err)
			}
			if e.PendingTruncated != c.wantTruncated {
				t.Fatalf("PendingTruncated = %v, want %v", e.PendingTruncated, c.wantTruncated)
			}
			got := map[string]int{}
			if err := db.EachLoggedDecision(ctx, e.From, e.To, func(d Decision) error { got[d.ID]++; return nil }); err != nil {
				t.Fatal(err)
			}
			for _, d := range e.Pending {
				got[d.ID]++
			}
			missing := 0
			for i := range 10 {
				switch id := importedDecision(i).ID; {
				case got[id] > 1:
					t.Errorf("%s is in the export %d times", id, got[id])
				case got[id] == 0:
					missing++
				}
			}
			if want := map[bool]int{false: 0, true: 10 - c.logged - c.limit}[c.wantTruncated]; missing != want {
				t.Errorf("%d records decided in the window are not in the export, want %d (%+v)", missing, want, got)
			}
		})
	}
}

func TestLogExportSnapshotRefusesABadLimit(t *testing.T) {
	db, _ := loggedStore(t, 1, 1)
	if _, err := db.LogExportSnapshot(context.Background(), time.Time{}, time.Time{}, 0); err == nil {
		t.Fatal("a limit of 0 records not logged was accepted")
	}
}
