package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/portcullis/portcullis/internal/pgtest"
)

// TestRetryBounded: a transaction failing with a retryable error runs maxTxAttempts times and
// then reports that error; a non-retryable error is not retried; a cancelled context stops.
func TestRetryBounded(t *testing.T) {
	db := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "retry.db"))
	serialization := &pgconn.PgError{Code: pgSerializationFailure}
	cases := []struct {
		name     string
		ctx      func() context.Context
		fail     error
		attempts int
	}{
		{"retryable", context.Background, serialization, maxTxAttempts},
		{"not retryable", context.Background, errors.New("boom"), 1},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, serialization, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attempts := 0
			err := db.inTx(c.ctx(), func(*sql.Tx) error {
				attempts++
				return c.fail
			})
			if attempts != c.attempts {
				t.Errorf("%d attempts, want %d", attempts, c.attempts)
			}
			if c.attempts > 0 && !errors.Is(err, c.fail) {
				t.Errorf("err = %v, want it to wrap %v", err, c.fail)
			}
			if c.attempts == 0 && !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}
}

// TestPostgresSerializationRetry forces a real serialization failure (SQLSTATE 40001) at the
// COMMIT of a transaction's first attempt: after it read skew_a and wrote skew_b, a concurrent
// serializable transaction reads skew_b, writes skew_a and commits first (a write skew). The
// store's retry runs the transaction again, which then sees the other write.
func TestPostgresSerializationRetry(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, pgtest.Start(t))
	for _, stmt := range []string{"CREATE TABLE skew_a (v INT)", "CREATE TABLE skew_b (v INT)"} {
		if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	attempts := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		attempts++
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM skew_a").Scan(&n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO skew_b VALUES ($1)", n); err != nil {
			return err
		}
		if attempts == 1 {
			if err := commitOtherSide(ctx, db.sql); err != nil {
				t.Errorf("concurrent transaction: %v", err)
			}
		}
		return nil // on the first attempt, COMMIT finds the dangerous structure and fails
	})
	if err != nil {
		t.Fatalf("transaction with retry: %v (attempts %d)", err, attempts)
	}
	if attempts < 2 {
		t.Fatalf("%d attempt(s): the forced serialization failure did not happen", attempts)
	}
	var a, b int
	if err := db.sql.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM skew_a), (SELECT SUM(v) FROM skew_b)").Scan(&a, &b); err != nil {
		t.Fatalf("read result: %v", err)
	}
	if a != 1 || b != 1 {
		t.Fatalf("skew_a has %d rows, skew_b holds %d; want 1 and 1 (the retry saw the other commit)", a, b)
	}
}

// commitOtherSide runs and commits the other half of the write skew: read skew_b, write skew_a.
func commitOtherSide(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM skew_b").Scan(&n); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO skew_a VALUES (1)"); err != nil {
		return err
	}
	return tx.Commit()
}
