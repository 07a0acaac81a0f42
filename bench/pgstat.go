package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// dbServer is the database server a decisions phase runs against; its zero value is a database
// inside the CM (SQLite).
type dbServer struct {
	// pid is the server's postmaster, whose process tree's CPU time is measured.
	pid int
	// dsn names the CM's database on it.
	dsn string
}

// txMeter counts the transactions the database server ended in one database over a phase:
// PostgreSQL's own count (pg_stat_database), in which every statement outside an explicit
// transaction is one. A backend reports its counts at most once a second while busy, so a
// reading lags by up to a second of work at each end of a phase.
type txMeter struct {
	dsn   string
	start int64
}

// startTxMeter reads the count at the start of a phase.
func startTxMeter(ctx context.Context, dsn string) (*txMeter, error) {
	n, err := serverTransactions(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &txMeter{dsn: dsn, start: n}, nil
}

// perOp returns the transactions since the start per operation, over ops operations.
func (m *txMeter) perOp(ctx context.Context, ops int64) (float64, error) {
	if ops <= 0 {
		return 0, fmt.Errorf("no operation completed")
	}
	n, err := serverTransactions(ctx, m.dsn)
	if err != nil {
		return 0, err
	}
	return float64(n-m.start) / float64(ops), nil
}

// serverTransactions returns how many transactions the server has committed and rolled back
// in dsn's database.
func serverTransactions(ctx context.Context, dsn string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("the server's transaction count: %w", err)
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("the server's transaction count: %w", err)
	}
	return n, nil
}
