package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema migrations, named NNNN_name.sql, applied in version order.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationsDir is the directory of migrationFiles that holds the migrations.
const migrationsDir = "migrations"

// schemaMigrationsDDL creates the table that records applied migrations.
const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version     BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  {{TIME}} NOT NULL
)`

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	body    string
}

// loadMigrations reads NNNN_name.sql files from dir of fsys, in version order; a version may
// appear once. Versions may leave gaps (a number reserved for a change still on another
// branch): applyMigrations applies every version the database has not recorded, whatever its
// neighbours.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || name == "" {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, body: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migration version %d repeats (%s, %s)", ms[i].version, ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the embedded migrations.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFiles, migrationsDir)
	if err != nil {
		return err
	}
	return db.applyMigrations(ctx, ms)
}

// applyMigrations applies every migration not yet recorded in schema_migrations, each in its
// own transaction that first claims the version row: a concurrent opener either waits for the
// claim (SQLite's write lock, PostgreSQL's advisory lock, CockroachDB's serializable write) and
// then finds the version applied, or applies it itself.
func (db *DB) applyMigrations(ctx context.Context, ms []migration) error {
	err := db.d.inMigrationTx(ctx, db.sql, db.log, func(tx *sql.Tx) error {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.d.expandTypes(schemaMigrationsDDL))
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}
	if current, newest := slices.Max(append(applied, 0)), lastVersion(ms); current > newest {
		db.log.WarnContext(ctx, "database schema is newer than this binary", "database", current, "binary", newest)
	}
	for _, m := range ms {
		if slices.Contains(applied, m.version) {
			continue
		}
		if err := db.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// applyMigration applies m unless another process recorded it first.
func (db *DB) applyMigration(ctx context.Context, m migration) error {
	applied := false
	err := db.d.inMigrationTx(ctx, db.sql, db.log, func(tx *sql.Tx) error {
		applied = false
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		n, err := execCount(ctx, tx,
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING",
			m.version, m.name, db.d.timeArg(time.Now()))
		if err != nil || n == 0 {
			return err
		}
		if body := db.d.expandTypes(m.body); hasStatements(body) {
			if _, err := tx.ExecContext(ctx, body); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	if err == nil && applied {
		db.log.InfoContext(ctx, "applied migration", "version", m.version, "name", m.name)
	}
	return err
}

// hasStatements reports whether ddl has anything but blank and comment lines: a migration for
// another database family only (its blocks, dialectBlocks) has nothing for this one, and only
// its version is recorded.
func hasStatements(ddl string) bool {
	for line := range strings.Lines(ddl) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
			return true
		}
	}
	return false
}

// lockMigrations takes the dialect's migration lock, if it has one.
func (db *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	lock := db.d.migrationLock()
	if lock == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, lock)
	return err
}

// appliedVersions lists the versions schema_migrations records.
func (db *DB) appliedVersions(ctx context.Context) ([]int, error) {
	vs, err := queryAll(ctx, db.sql, func(r rowScanner) (int, error) {
		var v int
		return v, r.Scan(&v)
	}, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: applied migrations: %w", err)
	}
	return vs, nil
}

// lastVersion is the highest version of ms, 0 for none.
func lastVersion(ms []migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// SchemaVersion returns the highest applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}
