package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// volumeRecords is how many decision records the volume test reads back in one query: 50
// times the CM's largest page, and more bytes (about 80 MB) than maxVolumeHeap.
const volumeRecords = 50_000

// volumeInput is a recorded connect input of about 1.3 KB, the size of a real one with its
// relay candidates: alice of ops, with MFA, asks for a shell on a production Host.
func volumeInput(t testing.TB, at time.Time) json.RawMessage {
	t.Helper()
	in := policy.Input{
		Subject: policy.Subject{ID: "alice@example.com", Name: "Alice", Email: "alice@example.com", IdP: "https://sso.example.com",
			Groups: []string{"ops"}, AMR: []string{"pwd", "otp", "mfa"}, AuthTime: at.Add(-time.Hour)},
		Host:    policy.Host{ID: "host_db1", Name: "db-1", Tenant: "acme", OS: "linux", Tags: map[string]string{"env": "prod", "team": "data"}, Online: true, LastSeen: at},
		Request: policy.Request{Action: policy.ActionConnect, Channels: []string{"shell"}, Encryption: "very_high"},
		Context: policy.Context{Time: at, GuestAddr: "203.0.113.7", Region: "eu"},
	}
	for i := range 8 {
		in.Context.Relays = append(in.Context.Relays, policy.RelayCandidate{ID: fmt.Sprintf("cs-eu-north-%d", i), Region: "eu-north", Owner: "vendor"})
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// insertVolume commits n allowed connect records of alice on db-1, vol-000000 the newest at
// newest, one a millisecond before the other, from several goroutines as a busy CM would.
func insertVolume(t testing.TB, st *store.DB, n int, newest time.Time) {
	t.Helper()
	const workers = 64
	result := json.RawMessage(`{"allow":true,"reasons":["group ops may connect"],"obligations":{"channels":["shell"],"max_duration_seconds":28800}}`)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				at := newest.Add(-time.Duration(i) * time.Millisecond)
				err := st.InsertDecision(ctx, store.Decision{
					ID: fmt.Sprintf("vol-%06d", i), Time: at, Path: policy.DecisionPath, Subject: "alice@example.com",
					HostID: "host_db1", HostName: "db-1", Allow: true, Reasons: []string{"group ops may connect"},
					Input: volumeInput(t, at), Result: result, Revision: "rev-1", EvalNS: 81234,
					Labels: map[string]string{"relay": "cs-eu-1", "outcome": "granted", "session_id": fmt.Sprintf("ses-%06d", i)},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// recordCounter is the standard output of 'logs query --format ndjson': it checks each
// record as it arrives, marks its number (vol-NNNNNN) seen, and samples the heap that remains
// after a collection every sampleEvery records, without keeping the records.
type recordCounter struct {
	partial    []byte
	seen       []bool
	dup, other []string
	records    int
	bytes      int
	// last is the number of the last record seen; disorder counts records out of order.
	last, disorder int
	maxHeap        uint64
	sampleEvery    int
}

func (c *recordCounter) Write(p []byte) (int, error) {
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		c.line(c.partial[:i])
		c.partial = append(c.partial[:0], c.partial[i+1:]...)
	}
}

func (c *recordCounter) line(l []byte) {
	var d struct {
		ID    string `json:"decision_id"`
		Input struct {
			Subject struct {
				ID string `json:"id"`
			} `json:"subject"`
		} `json:"input"`
	}
	c.records++
	c.bytes += len(l) + 1
	n := -1
	if err := json.Unmarshal(l, &d); err == nil && d.Input.Subject.ID == "alice@example.com" {
		if num, ok := strings.CutPrefix(d.ID, "vol-"); ok {
			n, _ = strconv.Atoi(num)
		}
	}
	switch {
	case n < 0 || n >= len(c.seen):
		c.other = append(c.other, string(l[:min(len(l), 120)]))
	case c.seen[n]:
		c.dup = append(c.dup, d.ID)
	default:
		c.seen[n] = true
		if n <= c.last && c.records > 1 {
			c.disorder++
		}
		c.last = n
	}
	if c.records%c.sampleEvery == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		c.maxHeap = max(c.maxHeap, ms.HeapAlloc)
	}
}

// bothStores names a fresh store of each kind the CM runs on: a SQLite file and a database of a
// real PostgreSQL server.
func bothStores() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "cm.db") },
		"postgres": func(t *testing.T) string { return pgtest.Start(t) },
	}
}

// maxVolumeHeap bounds the live heap of the whole test process (the CLI, the CM and the test)
// while 'logs query --limit 0' streams; keeping the records would take more than 150 MB.
const maxVolumeHeap = 64 << 20

// 'logs query --limit 0' streams every one of 100,000 records, about 1.6 KB each as the API
// renders them, exactly once and in order, through a real CM over HTTPS, on SQLite and on
// PostgreSQL, and the process's heap stays bounded however many records pass.
func TestLogsQueryStreamsEveryRecordOfALargeLog(t *testing.T) {
	for name, dsn := range bothStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cm := startTestCM(t, dsn(t))
			newest := time.Now().Add(-time.Hour)
			start := time.Now()
			insertVolume(t, cm.store, volumeRecords, newest)
			t.Logf("inserted %d records in %v", volumeRecords, time.Since(start).Round(time.Millisecond))
			carol := cm.signIn(t, "carol@example.com")

			out := &recordCounter{seen: make([]bool, volumeRecords), sampleEvery: volumeRecords / 10}
			start = time.Now()
			// --until leaves out the records of carol's own queries, which the CM adds meanwhile.
			cfg := logsQueryConfig{guestConfig: carol, Until: newest.Add(time.Second).Format(time.RFC3339Nano), Format: formatNDJSON}
			var stderr strings.Builder
			if err := runLogsQuery(t.Context(), cfg, out, &stderr); err != nil || stderr.Len() > 0 {
				t.Fatalf("logs query --limit 0: %v, stderr %q", err, stderr.String())
			}
			t.Logf("streamed %d records (%d MB) in %v; largest live heap %d MiB", out.records, out.bytes/1e6, time.Since(start).Round(time.Millisecond), out.maxHeap>>20)
			missing := 0
			for _, ok := range out.seen {
				if !ok {
					missing++
				}
			}
			if missing > 0 || len(out.dup) > 0 || len(out.other) > 0 || out.records != volumeRecords || len(out.partial) > 0 {
				t.Errorf("%d lines: %d records missing, %d repeated (%.5v), %d unexpected (%.2q), %d bytes after the last line",
					out.records, missing, len(out.dup), out.dup, len(out.other), out.other, len(out.partial))
			}
			if out.disorder > 0 {
				t.Errorf("%d records out of order (newest first)", out.disorder)
			}
			if out.maxHeap > maxVolumeHeap {
				t.Errorf("the live heap reached %d MiB while streaming, want at most %d MiB", out.maxHeap>>20, maxVolumeHeap>>20)
			}
		})
	}
}
