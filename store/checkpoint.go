package store

import (
	"context"
	"fmt"
	"time"
)

// Background WAL checkpoints (SQLite only).
//
// A SQLite commit appends the pages it changed to the write-ahead log; a checkpoint copies the
// log's newest pages into the database file and syncs it, and once every page is copied and no
// reader still reads from the log, the next commit writes the log from its beginning again,
// over the blocks it already has (a sync of blocks the file already has costs about half of one
// that grows the file, on this project's test machine). SQLite's own automatic checkpoint runs
// inside the commit that takes the log past 1,000 pages, and so holds the one writer, and every
// connect queued behind it, while it writes and syncs up to 4 MB of the database file: at 500
// connects per second, several times a second. The store turns it off (wal_autocheckpoint(0),
// dsn.go) and checkpoints from its own goroutine instead, in two steps:
//
//   - PASSIVE, beside the commits (it takes no write lock, and they keep appending): it copies
//     the pages the log holds, each page once however many commits rewrote it;
//   - once the log holds walRestartPages or more, PASSIVE again, in the writers' turn
//     (writegate.go), through the writers' connection: it copies the few pages committed since,
//     so that the next commit finds every page copied and starts the log again (unless a reader
//     that began before still reads from it: then a later round does). A commit starts the log
//     again only when its transaction began with every page copied: while commits follow one
//     another beside the first step alone, that never happened, and the log grew without end.
//     RESTART, which would start it here, waits for the readers with the busy handler's sleeps,
//     which would hold up every writer.

// walCheckpointEvery is how often the checkpointer copies the log into the database file.
const walCheckpointEvery = 250 * time.Millisecond

// walRestartPages is the log's length, in pages, from which the checkpointer starts it again
// (SQLite's own automatic checkpoint starts at 1,000 pages).
const walRestartPages = 1000

// The checkpointer's steps, as its metric labels them.
const (
	stepCopy    = "copy"
	stepRestart = "restart"
)

// checkpointer runs the background checkpoints of one SQLite DB until stopped.
type checkpointer struct {
	stop context.CancelFunc
	done chan struct{}
}

// startCheckpoints starts the checkpointer of a SQLite DB; ctx's values carry over, its end
// does not (Close stops it).
func (db *DB) startCheckpoints(ctx context.Context) {
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	db.ckpt = &checkpointer{stop: stop, done: make(chan struct{})}
	go db.checkpointLoop(ctx, db.ckpt.done)
}

// stopCheckpoints stops the checkpointer, if any, and waits for it.
func (db *DB) stopCheckpoints() {
	if db.ckpt == nil {
		return
	}
	db.ckpt.stop()
	<-db.ckpt.done
}

// checkpointLoop checkpoints every walCheckpointEvery until ctx ends.
func (db *DB) checkpointLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(walCheckpointEvery)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := db.checkpoint(ctx)
		if ctx.Err() != nil {
			return
		}
		failing = db.reportCheckpoint(ctx, err, failing)
	}
}

// reportCheckpoint logs a failed checkpoint when the one before succeeded, and the first
// success after failures; it returns whether this one failed. A failure that lasts (a full
// disk) is logged once, not four times a second.
func (db *DB) reportCheckpoint(ctx context.Context, err error, failing bool) bool {
	switch {
	case err != nil && !failing:
		db.log.WarnContext(ctx, "store: WAL checkpoints fail; the log grows until they succeed", "err", err)
	case err == nil && failing:
		db.log.InfoContext(ctx, "store: WAL checkpoints succeed again")
	}
	return err != nil
}

// checkpoint copies the log into the database file, and starts it again once it is long.
func (db *DB) checkpoint(ctx context.Context) error {
	logged, err := db.checkpointWAL(ctx, db.sql, stepCopy)
	if err != nil || logged < walRestartPages {
		return err
	}
	leave, wc, err := db.enterWrite(ctx, workCheckpoint)
	if err != nil {
		return err
	}
	defer leave()
	_, err = db.checkpointWAL(ctx, wc.conn, stepRestart)
	return err
}

// checkpointWAL runs one PASSIVE checkpoint on q, observed as step's, and returns the pages
// the log holds.
func (db *DB) checkpointWAL(ctx context.Context, q querier, step string) (int, error) {
	var busy, logged, copied int
	start := time.Now()
	if err := q.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logged, &copied); err != nil {
		return 0, fmt.Errorf("store: WAL checkpoint (%s): %w", step, err)
	}
	db.metrics.observeCheckpoint(step, time.Since(start))
	return logged, nil
}
