package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testWritesAreTimedByWork: every write transaction is timed by what it does (a group commit of
// connects, a step of the log's sequencer, anything else), on SQLite with its wait for the
// writer too, and each group commit counts the writes it carried.
func testWritesAreTimedByWork(t *testing.T, dsn string) {
	const n = 40
	ctx := context.Background()
	db := openStore(t, dsn)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.InsertDecision(ctx, Decision{ID: fmt.Sprintf("m-%02d", i), Time: at(time.Duration(i)), Subject: "s", Reasons: []string{}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("InsertDecision %d: %v", i, err)
		}
	}
	step := LogAppend{Checkpoint: LogCheckpoint{Size: 1, Root: []byte("r"), Note: "n", SignedAt: at(0)},
		Leaves: []LogLeaf{{DecisionID: "m-00", Time: at(0), Hash: []byte("h")}}, Nodes: []LogNode{{Hash: []byte("h")}}}
	if err := db.AppendLog(ctx, step); err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertRelay(ctx, Relay{ID: "cs-eu-1", Addr: "eu.example.com:1970", LastSeen: at(0)}); err != nil {
		t.Fatal(err)
	}

	m := gatherStore(t, db)
	commits := m.count("portcullis_store_write_seconds", "connects")
	if commits < 1 || commits > n {
		t.Errorf("%d group commits timed for %d concurrent records, want 1 to %d", commits, n, n)
	}
	if got := m.count("portcullis_store_group_commit_writes", ""); got != commits {
		t.Errorf("%d group commits counted their writes, %d were timed", got, commits)
	}
	if got := m.sum("portcullis_store_group_commit_writes", ""); got != n {
		t.Errorf("group commits carried %v writes, want %d", got, n)
	}
	if got := m.count("portcullis_store_write_seconds", "log"); got != 1 {
		t.Errorf("%d sequencer steps timed, want 1", got)
	}
	if got := m.count("portcullis_store_write_seconds", "other"); got < 1 {
		t.Errorf("the relay's upsert was not timed as other work")
	}
	if m.sum("portcullis_store_write_seconds", "connects") <= 0 {
		t.Error("the group commits took no time")
	}
	for _, work := range []string{"connects", "log", "other"} {
		waits, want := m.count("portcullis_store_write_wait_seconds", work), m.count("portcullis_store_write_seconds", work)
		if db.gate == nil {
			want = 0 // PostgreSQL's writers take no turns
		}
		if waits != want {
			t.Errorf("%d waits for the writer timed as %s work, want %d", waits, work, want)
		}
	}
}

// storeMetrics are a store's gathered metric families by name.
type storeMetrics map[string]*dto.MetricFamily

// gatherStore gathers db's metrics through a registry, as the CM serves them.
func gatherStore(t *testing.T, db *DB) storeMetrics {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range db.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := storeMetrics{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m
}

// histogram is the histogram of family name labelled work (any, for "").
func (m storeMetrics) histogram(name, work string) *dto.Histogram {
	for _, s := range m[name].GetMetric() {
		if work == "" || (len(s.GetLabel()) == 1 && s.GetLabel()[0].GetValue() == work) {
			return s.GetHistogram()
		}
	}
	return nil
}

// count is how many observations family name holds for work.
func (m storeMetrics) count(name, work string) uint64 {
	return m.histogram(name, work).GetSampleCount()
}

// sum is the sum of family name's observations for work.
func (m storeMetrics) sum(name, work string) float64 {
	return m.histogram(name, work).GetSampleSum()
}
