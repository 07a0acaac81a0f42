package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
)

// Unsynced commits (SQLite only).
//
// A long-poll's collection deletes the messages it hands to its Host. Lost in a crash of the
// machine (not of the process: the kernel keeps what was written), such a delete only hands
// the same messages over again: a connection request whose single-use ticket the relay then
// refuses, or an order to end a session that has already ended. So a batch of collections
// alone commits without syncing the write-ahead log (synchronous=NORMAL for that transaction),
// and the next synced commit, a connect's, syncs it along with its own pages. At 500 connects
// per second that halves the syncs the one writer waits for. Every other commit, and every
// batch that carries a record, syncs as before (synchronous=FULL).

// inTxUnsynced is inTxFor for a transaction whose loss in a crash of the machine only repeats
// work: on SQLite it commits without a sync; elsewhere it is inTxFor.
func (db *DB) inTxUnsynced(ctx context.Context, w work, fn func(*sql.Tx) error) error {
	leave, wc, err := db.enterWrite(ctx, w)
	if err != nil {
		return err
	}
	defer leave()
	if wc == nil {
		return db.d.inTx(ctx, db.sql, db.log, fn)
	}
	bg := context.WithoutCancel(ctx)
	if _, err := wc.conn.ExecContext(bg, "PRAGMA synchronous=NORMAL"); err != nil {
		return db.d.inTx(ctx, wc.conn, db.log, fn) // still synced: the setting did not change
	}
	defer wc.resync(bg)
	return db.d.inTx(ctx, wc.conn, db.log, fn)
}

// resync sets the writers' connection back to synced commits; a connection that cannot be set
// back is discarded (the next writer pins another, opened synced by its DSN).
func (wc *writerConn) resync(ctx context.Context) {
	if _, err := wc.conn.ExecContext(ctx, "PRAGMA synchronous=FULL"); err != nil {
		_ = wc.conn.Raw(func(any) error { return driver.ErrBadConn }) // discards it
	}
}
