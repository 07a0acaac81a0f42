package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openSQLiteWithoutCheckpointer opens a SQLite store as Open does, but without its background
// checkpointer, so that a test decides when checkpoints run.
func openSQLiteWithoutCheckpointer(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portcullis.db")
	db, _, err := newDB("sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db, path
}

// TestSQLiteCommitsLeaveCheckpointsToTheStore: no connection checkpoints inside a commit
// (SQLite's automatic checkpoint is off), on the writers' connection as on any other.
func TestSQLiteCommitsLeaveCheckpointsToTheStore(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "portcullis.db"))
	if err := db.InsertDecision(ctx, Decision{ID: "d-1", Time: at(0), Subject: "s", Reasons: []string{}}); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Errorf("wal_autocheckpoint = %d on a pool connection, want 0", pages)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages) })
	if err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Errorf("wal_autocheckpoint = %d on the writers' connection, want 0", pages)
	}
}

// TestCheckpointsStartTheLogAgain: while commits follow one another without pause, the
// checkpoints keep the write-ahead log bounded (it starts again from its beginning) and every
// commit stays in the database. Copying the log beside the commits alone, the log never
// started again and grew with every commit.
func TestCheckpointsStartTheLogAgain(t *testing.T) {
	ctx := context.Background()
	db, path := openSQLiteWithoutCheckpointer(t)
	const commits = 4000
	committed := make(chan error, 1)
	go func() {
		for i := range commits {
			d := Decision{ID: fmt.Sprintf("d-%04d", i), Time: at(time.Duration(i)), Subject: "s", Reasons: []string{"allowed by a role"}}
			if err := db.InsertDecision(ctx, d); err != nil {
				committed <- err
				return
			}
		}
		committed <- nil
	}()
	// The log's length, seen beside the commits before each checkpoint; a length shorter than
	// the one before means the log started again, and the pages it held count as written.
	written, last, most := 0, 0, 0
	observe := func() {
		logged, err := db.checkpointWAL(ctx, db.sql, stepCopy)
		if err != nil {
			t.Fatal(err)
		}
		if logged < last {
			written += last
		}
		last, most = logged, max(most, logged)
	}
	for done := false; !done; {
		select {
		case err := <-committed:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
		}
		observe()
		if err := db.checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	written += last
	bound := 8 * walRestartPages
	t.Logf("%d commits wrote %d pages to the log; it held at most %d", commits, written, most)
	if written < 3*bound {
		t.Fatalf("the commits wrote %d pages, too few to tell a log that starts again (bound %d)", written, bound)
	}
	if most > bound {
		t.Errorf("the log held %d pages, want at most %d: it did not start again", most, bound)
	}
	var pageSize int64
	if err := db.sql.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if limit := int64(bound) * (pageSize + 24); fi.Size() > limit {
		t.Errorf("the log's file is %d bytes, want at most %d", fi.Size(), limit)
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, "SELECT count(*) FROM decisions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != commits {
		t.Errorf("%d decisions in the database, want %d", n, commits)
	}
}

// TestTheBackgroundCheckpointerRunsAndStops: a SQLite store checkpoints on its own (its metric
// counts the copies) and Close stops it.
func TestTheBackgroundCheckpointerRunsAndStops(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "portcullis.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InsertDecision(ctx, Decision{ID: "d-1", Time: at(0), Subject: "s", Reasons: []string{}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * walCheckpointEvery)
	for gatherStore(t, db).count("portcullis_store_wal_checkpoint_seconds", stepCopy) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no background checkpoint within %v", 10*walCheckpointEvery)
		}
		time.Sleep(walCheckpointEvery / 5)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.ckpt.done:
	default:
		t.Fatal("the checkpointer still runs after Close")
	}
}

// TestAWriterConnectionThatBrokeIsReplaced: when the writers' connection is closed under them,
// the next write pins another and commits.
func TestAWriterConnectionThatBrokeIsReplaced(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLiteWithoutCheckpointer(t)
	if err := db.InsertDecision(ctx, Decision{ID: "d-1", Time: at(0), Subject: "s", Reasons: []string{}}); err != nil {
		t.Fatal(err)
	}
	wc := <-db.gate
	broken := wc.conn
	if broken == nil {
		t.Fatal("the first write pinned no connection")
	}
	if err := broken.Close(); err != nil {
		t.Fatal(err)
	}
	db.gate <- wc
	if err := db.InsertDecision(ctx, Decision{ID: "d-2", Time: at(1), Subject: "s", Reasons: []string{}}); err != nil {
		t.Fatalf("a write after the writers' connection broke: %v", err)
	}
	if _, err := db.GetDecision(ctx, "d-2"); err != nil {
		t.Fatalf("the write after the break did not commit: %v", err)
	}
	wc = <-db.gate
	replaced := wc.conn != nil && wc.conn != broken
	db.gate <- wc
	if !replaced {
		t.Error("the broken connection was not replaced")
	}
}

// TestALastingCheckpointFailureIsLoggedOnce: checkpoints that keep failing (a full disk) log
// one warning, not one every round, and the first success after them says so.
func TestALastingCheckpointFailureIsLoggedOnce(t *testing.T) {
	fail := errors.New("disk full")
	for _, c := range []struct {
		name      string
		rounds    []error
		warnings  int
		successes int
	}{
		{"all succeed", []error{nil, nil, nil}, 0, 0},
		{"one lasting failure", []error{nil, fail, fail, fail, fail}, 1, 0},
		{"a failure, then success", []error{fail, fail, nil, nil}, 1, 1},
		{"two failures apart", []error{fail, nil, fail, fail, nil}, 2, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			db := &DB{log: slog.New(slog.NewTextHandler(&buf, nil))}
			failing := false
			for _, err := range c.rounds {
				failing = db.reportCheckpoint(context.Background(), err, failing)
			}
			out := buf.String()
			if got := strings.Count(out, "checkpoints fail;"); got != c.warnings {
				t.Errorf("%d warnings, want %d:\n%s", got, c.warnings, out)
			}
			if got := strings.Count(out, "succeed again"); got != c.successes {
				t.Errorf("%d recoveries logged, want %d:\n%s", got, c.successes, out)
			}
			if failing != (c.rounds[len(c.rounds)-1] != nil) {
				t.Errorf("failing = %v after the last round", failing)
			}
		})
	}
}
