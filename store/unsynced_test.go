package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// TestOnlyCollectionsCommitUnsynced: a transaction run unsynced commits with
// synchronous=NORMAL, and every write after it, whether it failed or not, syncs again
// (synchronous=FULL); a batch is run so only when it holds collections alone.
func TestOnlyCollectionsCommitUnsynced(t *testing.T) {
	db := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "portcullis.db"))
	ctx := context.Background()
	syncSetting := func(tx *sql.Tx) (int, error) {
		var n int
		err := tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n)
		return n, err
	}
	const normal, full = 1, 2
	failed := errors.New("the transaction failed")
	for _, tc := range []struct {
		name string
		err  error
	}{{"committed", nil}, {"failed", failed}} {
		t.Run(tc.name, func(t *testing.T) {
			var inside int
			err := db.inTxUnsynced(ctx, workConnects, func(tx *sql.Tx) error {
				var err error
				if inside, err = syncSetting(tx); err != nil {
					return err
				}
				return tc.err
			})
			if !errors.Is(err, tc.err) || inside != normal {
				t.Fatalf("unsynced transaction: synchronous = %d, err %v; want %d, %v", inside, err, normal, tc.err)
			}
			for _, w := range []work{workConnects, workOther} {
				var after int
				if err := db.inTxFor(ctx, w, func(tx *sql.Tx) (err error) { after, err = syncSetting(tx); return err }); err != nil || after != full {
					t.Errorf("the write after it: synchronous = %d, %v; want %d", after, err, full)
				}
			}
		})
	}
	collect, record := &pendingWrite{collect: &pendingCollect{}}, &pendingWrite{record: &pendingInsert{}}
	for _, tc := range []struct {
		batch []*pendingWrite
		want  bool
	}{
		{[]*pendingWrite{collect}, true},
		{[]*pendingWrite{collect, collect}, true},
		{[]*pendingWrite{record}, false},
		{[]*pendingWrite{collect, record}, false},
		{[]*pendingWrite{{session: &pendingInsert{}}}, false},
	} {
		if got := onlyCollects(tc.batch); got != tc.want {
			t.Errorf("onlyCollects(%d writes) = %v, want %v", len(tc.batch), got, tc.want)
		}
	}
}
