package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseDSN checks every accepted DSN form and the refusals.
func TestParseDSN(t *testing.T) {
	cases := []struct {
		dsn        string
		kind       kind
		driverHas  []string // substrings of the driver DSN
		redacted   string
		wantErr    bool
		sqlitePath string
	}{
		{dsn: "sqlite:/var/lib/p/cm.db", kind: kindSQLite, sqlitePath: "/var/lib/p/cm.db", redacted: "sqlite:/var/lib/p/cm.db",
			driverHas: []string{"/var/lib/p/cm.db?", "_txlock=immediate", "busy_timeout", "journal_mode%28WAL%29", "foreign_keys%281%29", "temp_store%28MEMORY%29"}},
		{dsn: "sqlite:///abs/cm.db", kind: kindSQLite, sqlitePath: "/abs/cm.db", redacted: "sqlite:/abs/cm.db"},
		{dsn: "sqlite:rel/cm.db?_pragma=cache_size(-2000)", kind: kindSQLite, sqlitePath: "rel/cm.db",
			driverHas: []string{"cache_size%28-2000%29", "_txlock=immediate"}},
		{dsn: "/data/portcullis.db", kind: kindSQLite, sqlitePath: "/data/portcullis.db"},
		{dsn: "state.sqlite3", kind: kindSQLite, sqlitePath: "state.sqlite3"},
		{dsn: "postgres://u:secret@db:5432/p?sslmode=disable", kind: kindPostgres,
			driverHas: []string{"postgres://u:secret@db:5432/p"}, redacted: "postgres://u:xxxxx@db:5432/p?sslmode=disable"},
		{dsn: "postgresql://db/p", kind: kindPostgres, driverHas: []string{"postgresql://db/p"}},
		{dsn: "cockroach://root@crdb:26257/p?sslmode=verify-full", kind: kindCockroach,
			driverHas: []string{"postgresql://root@crdb:26257/p?sslmode=verify-full"}},
		{dsn: "cockroachdb://root:pw@crdb/p", kind: kindCockroach, redacted: "postgresql://root:xxxxx@crdb/p"},
		{dsn: "", wantErr: true},
		{dsn: "sqlite::memory:", wantErr: true},
		{dsn: "sqlite:file:x.db", wantErr: true},
		{dsn: "mysql://u@h/db", wantErr: true},
		{dsn: "cm.txt", wantErr: true},
		{dsn: "sqlite:x.db?%zz", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.dsn, func(t *testing.T) {
			cfg, err := parseDSN(c.dsn)
			if c.wantErr {
				if !errors.Is(err, errBadDSN) {
					t.Fatalf("err = %v, want errBadDSN", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDSN: %v", err)
			}
			if cfg.kind != c.kind || cfg.sqlitePath != c.sqlitePath {
				t.Fatalf("kind %v path %q, want %v %q", cfg.kind, cfg.sqlitePath, c.kind, c.sqlitePath)
			}
			for _, s := range c.driverHas {
				if !strings.Contains(cfg.driverDSN, s) {
					t.Errorf("driver DSN %q lacks %q", cfg.driverDSN, s)
				}
			}
			if c.redacted != "" && cfg.redacted != c.redacted {
				t.Errorf("redacted = %q, want %q", cfg.redacted, c.redacted)
			}
			if strings.Contains(cfg.redacted, "secret") || strings.Contains(cfg.redacted, ":pw@") {
				t.Errorf("redacted DSN %q shows the password", cfg.redacted)
			}
		})
	}
}

// TestSQLiteFileCreatedPrivate checks that Open creates a missing directory and a private file.
func TestSQLiteFileCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "cm.db")
	db := openStore(t, path)
	for p, want := range map[string]os.FileMode{path: sqliteFileMode, filepath.Dir(path): sqliteDirMode} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	var mode string
	if err := db.sql.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// Every connection of the pool, not only the first, runs with the settings the DSN names:
// commits synced (synchronous FULL = 2), statement journals in memory (temp_store MEMORY = 2).
func TestSQLiteConnectionsRunWithTheirPragmas(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "cm.db"))
	ctx := t.Context()
	for i := range 3 {
		conn, err := db.sql.Conn(ctx) // held until the test ends: each iteration gets a new one
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for pragma, want := range map[string]int{"synchronous": 2, "temp_store": 2, "foreign_keys": 1} {
			var got int
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
				t.Errorf("connection %d: PRAGMA %s = %d, %v; want %d", i, pragma, got, err, want)
			}
		}
	}
}
