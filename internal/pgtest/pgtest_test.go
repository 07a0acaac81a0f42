package pgtest

import (
	"context"
	"database/sql"
	"os"
	"testing"
)

// TestStartOwnServer starts a private server (no shared one is advertised), creates a table in
// the returned database and finds that a second database from the same kind of call is separate.
func TestStartOwnServer(t *testing.T) {
	if os.Getenv(EnvAdminDSN) != "" {
		t.Fatalf("%s must not be set for this test binary (it has no TestMain)", EnvAdminDSN)
	}
	ctx := context.Background()
	dsn := Start(t)
	db := openDB(t, dsn)
	if _, err := db.ExecContext(ctx, "CREATE TABLE probe (id INT PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO probe VALUES (1)"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var version string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("server_version: %v", err)
	}
	t.Logf("PostgreSQL %s at %s", version, dsn)
}

// TestSharedServerDatabases points Start at a server through EnvAdminDSN, as Main does: each
// Start yields its own empty database on that one server, and cleanup drops it.
func TestSharedServerDatabases(t *testing.T) {
	ctx := context.Background()
	srv, err := StartServer(ctx)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
			t.Errorf("server dir %s still exists after Stop (stat: %v)", srv.dir, err)
		}
	})
	checkSafety(t, openDB(t, srv.AdminDSN()), "off")
	t.Setenv(EnvAdminDSN, srv.AdminDSN())

	var names []string
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, Start(t))
			var current string
			if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&current); err != nil {
				t.Fatalf("current_database: %v", err)
			}
			names = append(names, current)
			if _, err := db.ExecContext(ctx, "CREATE TABLE only_here (id INT)"); err != nil {
				t.Fatalf("create table in a fresh database: %v", err)
			}
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases = %v, want two distinct ones", names)
	}
	admin := openDB(t, srv.AdminDSN())
	var left int
	err = admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&left)
	if err != nil {
		t.Fatalf("count databases: %v", err)
	}
	if left != 0 {
		t.Fatalf("%d test databases left after their tests' cleanup, want 0", left)
	}
}

// TestFindBinDir finds the server binaries this machine must have for the store tests.
func TestFindBinDir(t *testing.T) {
	dir, err := findBinDir()
	if err != nil {
		t.Fatalf("findBinDir: %v", err)
	}
	if !hasBinaries(dir) {
		t.Fatalf("findBinDir returned %s without the binaries", dir)
	}
	if hasBinaries(t.TempDir()) {
		t.Fatal("an empty directory reported as holding the binaries")
	}
}

// openDB opens dsn and closes it at cleanup.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("ping %s: %v", dsn, err)
	}
	return db
}

// TestHaltAndResumeKeepTheData: a halted server refuses connections; resumed, it serves the
// same data on the same DSN.
func TestHaltAndResumeKeepTheData(t *testing.T) {
	ctx := context.Background()
	srv := startOwnServer(t)
	db := openDB(t, srv.AdminDSN())
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (id INT)"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Halt(ctx); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("a halted server answered")
	}
	if err := srv.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatalf("the resumed server lost the table or the pool did not reconnect: %v", err)
	}
}

// startOwnServer starts a server for one test and stops it at cleanup.
func startOwnServer(t *testing.T) *Server {
	t.Helper()
	srv, err := StartServer(context.Background())
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return srv
}

// TestDurableServer starts a server with Durable and finds PostgreSQL's crash-safe settings on
// (TestSharedServerDatabases finds them off on a server started without it).
func TestDurableServer(t *testing.T) {
	ctx := context.Background()
	srv, err := StartServer(ctx, Durable())
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	checkSafety(t, openDB(t, srv.AdminDSN()), "on")
}

// checkSafety fails t unless fsync, synchronous_commit and full_page_writes are all want.
func checkSafety(t *testing.T, db *sql.DB, want string) {
	t.Helper()
	for _, setting := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var got string
		if err := db.QueryRowContext(context.Background(), "SHOW "+setting).Scan(&got); err != nil {
			t.Fatalf("SHOW %s: %v", setting, err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", setting, got, want)
		}
	}
}
