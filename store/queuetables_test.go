package store

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQueueTablesMigrationSQLite: migration 17 rebuilds a populated SQLite database's mail and
// decision_outbox as WITHOUT ROWID tables without losing or changing a row; mail_queued is
// gone, the lookups still use their indexes, and the mail and the outbox work as before.
func TestQueueTablesMigrationSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portcullis.db")
	old := openAtVersion(t, "sqlite:"+path, 16)
	now := normTime(time.Now())
	var wantMail []Mail
	for i, r := range []string{"host:h-1", "host:h-1", "host:h-2", "relay:cs-1"} {
		m := Mail{ID: "m-" + string(rune('a'+i)), Recipient: r, Body: []byte(`{"n":` + string(rune('0'+i)) + `}`),
			QueuedAt: now, DeliverAt: now, ExpiresAt: now.Add(time.Duration(i+1) * time.Minute)}
		wantMail = append(wantMail, m)
		if _, err := old.sql.ExecContext(ctx, "INSERT INTO mail ("+mailColumns+") VALUES ($1, $2, $3, $4, $5, $6)", old.mailArgs(m)[:6]...); err != nil {
			t.Fatalf("v16 mail: %v", err)
		}
	}
	for i, id := range []string{"dec-c", "dec-a", "dec-b"} {
		if _, err := old.sql.ExecContext(ctx, "INSERT INTO decision_outbox (decision_id, decided_at) VALUES ($1, $2)",
			id, old.d.timeArg(now.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatalf("v16 outbox: %v", err)
		}
	}
	if err := old.sql.Close(); err != nil {
		t.Fatal(err)
	}

	db := openStore(t, "sqlite:"+path)
	assertSchema(t, db, embeddedMigrations(t))
	for _, table := range []string{"mail", "decision_outbox"} {
		var ddl string
		if err := db.sql.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = $1", table).Scan(&ddl); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if !strings.Contains(ddl, "WITHOUT ROWID") {
			t.Errorf("%s is still a rowid table: %s", table, ddl)
		}
	}
	indexes, err := queryAll(ctx, db.sql, scanString,
		"SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('mail', 'decision_outbox') AND sql IS NOT NULL ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"decision_outbox_time", "mail_expires", "mail_recipient_expiry"}; !slices.Equal(indexes, want) {
		t.Errorf("indexes = %v, want %v", indexes, want)
	}

	gotMail, err := queryAll(ctx, db.sql, scanMail, "SELECT "+mailColumns+" FROM mail ORDER BY id")
	if err != nil || !reflect.DeepEqual(gotMail, wantMail) {
		t.Fatalf("mail after the migration = %+v, %v; want %+v", gotMail, err, wantMail)
	}

	mail, _, err := db.CollectMail(ctx, "host:h-1", now)
	if err != nil || len(mail) != 2 || mail[0].ID != "m-a" || mail[1].ID != "m-b" {
		t.Fatalf("collect h-1 after the migration = %+v, %v; want m-a and m-b", mail, err)
	}
	if err := db.PostMail(ctx, Mail{ID: "m-new", Recipient: "host:h-2", Body: []byte("{}"), QueuedAt: now, DeliverAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatalf("post after the migration: %v", err)
	}
	if mail, _, err := db.CollectMail(ctx, "host:h-2", now); err != nil || len(mail) != 2 {
		t.Fatalf("collect h-2 after the migration = %+v, %v; want the old and the new message", mail, err)
	}
	ids, err := queryAll(ctx, db.sql, scanString, "SELECT decision_id FROM decision_outbox ORDER BY decided_at, decision_id")
	if err != nil || !slices.Equal(ids, []string{"dec-c", "dec-a", "dec-b"}) {
		t.Fatalf("outbox after the migration = %v, %v; want its three entries in time order", ids, err)
	}
	if err := db.AckOutbox(ctx, []string{"dec-a"}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.OutboxLen(ctx); err != nil || n != 2 {
		t.Fatalf("outbox after an acknowledgement = %d, %v; want 2", n, err)
	}
}

// openAtVersion opens dsn with the shipped migrations applied up to version, not beyond.
func openAtVersion(t *testing.T, dsn string, version int) *DB {
	t.Helper()
	ctx := context.Background()
	db, _, err := newDB(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.connect(ctx); err != nil {
		t.Fatal(err)
	}
	ms := embeddedMigrations(t)
	upTo := slices.IndexFunc(ms, func(m migration) bool { return m.version > version })
	if upTo < 0 {
		t.Fatalf("no shipped migration after version %d", version)
	}
	if err := db.applyMigrations(ctx, ms[:upTo]); err != nil {
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	return db
}
