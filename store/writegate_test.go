package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// TestAWriteWhoseContextEndsLeavesTheWritersConnectionClean: a write transaction whose
// context ends inside it (a shutdown, a caller gone) leaves no transaction open on the
// writers' connection, so the writer after it begins at once. database/sql rolls such a
// transaction back from a goroutine of its own; a writer let in before that rollback ran
// found "cannot start a transaction within a transaction".
func TestAWriteWhoseContextEndsLeavesTheWritersConnectionClean(t *testing.T) {
	db := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "portcullis.db"))
	ends := []struct {
		name string
		fn   func(cancel context.CancelFunc, tx *sql.Tx) error
	}{
		{"inside the transaction", func(cancel context.CancelFunc, _ *sql.Tx) error {
			cancel()
			return context.Canceled
		}},
		{"before its commit", func(cancel context.CancelFunc, tx *sql.Tx) error {
			if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS gate_probe (n INTEGER)`); err != nil {
				return err
			}
			cancel()
			return nil
		}},
	}
	for _, end := range ends {
		t.Run(end.name, func(t *testing.T) {
			for i := range 300 {
				ctx, cancel := context.WithCancel(context.Background())
				err := db.inTx(ctx, func(tx *sql.Tx) error { return end.fn(cancel, tx) })
				cancel()
				if err == nil {
					continue // the commit ran before the context's end was seen
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("write %d: %v, want the context's end", i, err)
				}
				if err := db.inTx(context.Background(), func(*sql.Tx) error { return nil }); err != nil {
					t.Fatalf("the write after write %d: %v", i, err)
				}
			}
		})
	}
}
