package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// stepRecords is the most records one sequencer step appends (gateway's sequenceBatch): each
// step is one transaction, holding SQLite's write lock, with its own checkpoint.
const stepRecords = 256

// TestABacklogIsLoggedInShortCheckpointedSteps: 1,100 records committed while no sequencer ran
// (signed by the log key, as another replica signs them, half with their record MAC) are logged
// in steps of at most stepRecords, each with a signed checkpoint, so that no step holds the
// store's write lock for long. One record altered in the database before it was logged, its
// MAC and signature kept, is logged as unsigned; the rest verify offline. One deleted behind
// the CM's back before it was logged leaves the queue with the first step.
func TestABacklogIsLoggedInShortCheckpointedSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "cm.db")
	w := startWorld(t, withStore(dsn))
	signer, err := translog.LoadSigner(filepath.Join(w.certDir, certs.LogKeyFile), filepath.Join(w.certDir, certs.LogPubFile))
	if err != nil {
		t.Fatal(err)
	}
	const backlog, tampered, deleted = 1100, 500, 100
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for i := range backlog {
		d := store.Decision{ID: fmt.Sprintf("dec_backlog_%04d", i), Time: t0.Add(time.Duration(i) * time.Millisecond), Path: "connect",
			Subject: "alice@example.com", HostName: "db-1", Allow: true, Reasons: []string{"ops may connect"},
			Input: json.RawMessage(`{}`), Result: json.RawMessage(`{"allow":true}`)}
		if _, err := signer.SignDecision(&d); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			d.LogMAC = nil // checked by its signature
		}
		if i == tampered {
			d.Reasons = []string{"an operator rewrote this"}
		}
		if err := w.store.InsertDecision(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDB(t, dsn)
	if _, err := raw.ExecContext(ctx, "DELETE FROM decisions WHERE id = $1", fmt.Sprintf("dec_backlog_%04d", deleted)); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.gateway.Run(runCtx) }()
	waitFor(t, 60*time.Second, "the sequencer to log the backlog", func() bool {
		cp, err := w.store.LatestCheckpoint(ctx)
		return err == nil && cp.Size >= backlog-1
	})
	stop()
	<-done

	var queued int
	if err := raw.QueryRowContext(ctx, "SELECT count(*) FROM log_queue").Scan(&queued); err != nil || queued != 0 {
		t.Fatalf("%d records left in the sequencer's queue (%v); want none, the deleted one dropped", queued, err)
	}
	rows, err := raw.QueryContext(ctx, "SELECT size FROM log_checkpoints ORDER BY size")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sizes []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	prev := int64(0)
	for _, n := range sizes {
		if n-prev > stepRecords || n <= prev {
			t.Fatalf("checkpoint sizes %v: a step of %d records after %d (want 1 to %d)", sizes, n-prev, prev, stepRecords)
		}
		prev = n
	}
	if min := (backlog - 1 + stepRecords - 1) / stepRecords; len(sizes) < min {
		t.Fatalf("checkpoint sizes %v: want at least %d steps for %d records", sizes, min, backlog)
	}
	vkey, err := translog.LoadVerifier(filepath.Join(w.certDir, certs.LogPubFile))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := translog.Verify(bytes.NewReader(w.export(t, w.login(t, "carol@example.com", ""))), vkey, nil)
	if err != nil || rep.Records < backlog-1 || len(rep.Findings) != 1 || rep.Findings[0].Kind != translog.FindingUnsigned ||
		rep.Findings[0].ID != fmt.Sprintf("dec_backlog_%04d", tampered) {
		t.Fatalf("the log after the backlog: %+v, %v; want %d records verified and dec_backlog_%04d alone named unsigned", rep, err, backlog-1, tampered)
	}
}
