package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkGrantAndCollectSQLite measures what an allowed connect writes on SQLite when it
// commits alone (as at a few hundred connects a second, where a group commit carries two or
// three): its record, session and Host request in one commit, the Host's collection in the
// next, beside the Host lookup between them. Besides the time it reports wal-pages/op, the
// pages those commits wrote to the WAL (each a write and part of a sync: most of the cost), and
// cpu-ns/op where the platform tells it.
func BenchmarkGrantAndCollectSQLite(b *testing.B) {
	ctx := context.Background()
	// No automatic checkpoint, so that the WAL's frame count is every page written since the
	// last explicit one.
	db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "bench.db")+"?_pragma=wal_autocheckpoint(0)", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	// Nor the store's own checkpointer (checkpoint.go): its restarts would empty the WAL
	// under the count.
	db.stopCheckpoints()
	g := grantWriter{db: db, input: json.RawMessage(`{"subject":{"id":"alice@example.com","groups":["ops"],"amr":["pwd","mfa"]},` +
		`"host":{"id":"h-1","name":"db-1","tags":{"env":"prod"}},"request":{"action":"connect","channels":["exec"]},` +
		`"context":{"time":"2026-12-02T10:00:00Z","guest_addr":"192.0.2.0/24","relays":[{"id":"cs-eu-1","region":"eu-north"}]},` +
		`"padding":"` + strings.Repeat("x", 500) + `"}`)}
	for range 3000 { // a log, sessions and mailboxes of some size, as a running CM has
		g.connect(ctx, b)
	}
	walFrames(ctx, b, db, "TRUNCATE") // empties the WAL
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for range b.N {
		g.connect(ctx, b)
	}
	b.StopTimer()
	b.ReportMetric(float64(walFrames(ctx, b, db, "PASSIVE"))/float64(b.N), "wal-pages/op")
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// grantWriter writes the store's side of allowed connects to 16 Hosts by 32 users.
type grantWriter struct {
	db    *DB
	input json.RawMessage
	n     int
}

// connect commits one allowed connect and its Host's collection.
func (g *grantWriter) connect(ctx context.Context, b *testing.B) {
	g.n++
	now := time.Now()
	host := fmt.Sprintf("h-%d", g.n%16)
	d := Decision{ID: fmt.Sprintf("dec_%x%08d", now.UnixMilli(), g.n), Time: now, Path: "portcullis/authz/decision",
		Subject: fmt.Sprintf("user%d@example.com", g.n%32), HostID: host, HostName: "name-" + host, Allow: true,
		Reasons: []string{"group ops may connect to db-1 (env=prod)"}, Input: g.input, Revision: "r1",
		Result: json.RawMessage(`{"allow":true,"reasons":["group ops may connect to db-1 (env=prod)"],"obligations":{"max_duration_seconds":28800}}`)}
	s := Session{ID: fmt.Sprintf("ses_%x%08d", now.UnixMilli(), g.n), DecisionID: d.ID, Subject: d.Subject, HostID: host, RelayID: "cs-1", StartedAt: now}
	m := Mail{Recipient: HostMailbox(host), Body: []byte(strings.Repeat("t", 900)), QueuedAt: now, DeliverAt: now, ExpiresAt: now.Add(8 * time.Second)}
	if _, err := g.db.InsertGrant(ctx, d, s, m); err != nil {
		b.Fatal(err)
	}
	if _, err := g.db.GetHostByName(ctx, "name-"+host); err != nil && !errors.Is(err, ErrNotFound) {
		b.Fatal(err)
	}
	if got, _, err := g.db.CollectMail(ctx, HostMailbox(host), time.Now()); err != nil || len(got) != 1 {
		b.Fatalf("collect = %d messages, %v; want the one posted", len(got), err)
	}
}

// walFrames runs a checkpoint of the given mode and returns how many frames the WAL held.
func walFrames(ctx context.Context, b *testing.B, db *DB, mode string) int {
	var busy, frames, done int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done); err != nil {
		b.Fatal(err)
	}
	return frames
}
