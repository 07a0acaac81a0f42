package store

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// work is what a write transaction does, the label of the store's write metrics.
type work int

const (
	// workConnects is a group commit: decision records with their sessions and Host requests,
	// sessions alone, and on SQLite the Hosts' mail collections (groupcommit.go).
	workConnects work = iota
	// workLog is a step of the decision log's sequencer (AppendLog).
	workLog
	// workOther is every other write (Hosts, relays, leases, locks, tokens, the CS's reports).
	workOther
	// workCheckpoint is a WAL checkpoint that starts SQLite's log again (checkpoint.go).
	workCheckpoint
	works
)

// String is the work's label value.
func (w work) String() string {
	switch w {
	case workConnects:
		return "connects"
	case workLog:
		return "log"
	case workCheckpoint:
		return "checkpoint"
	default:
		return "other"
	}
}

// writeMetrics times the store's writes: how long each waited for its turn at SQLite's one
// writer, how long it held the writer (on PostgreSQL: how long its transaction ran), by work,
// and how many writes each group commit carried. On SQLite the sum of the held times over an
// interval is the share of it the writer was busy: near all of it, every connect queues for
// the writer and waits behind the commits before its own.
type writeMetrics struct {
	waitedVec, heldVec *prometheus.HistogramVec
	// waited and held are the vectors' observers by work, looked up once.
	waited, held [works]prometheus.Observer
	batch        prometheus.Histogram
	// checkpoint times the background WAL checkpoints by step (SQLite only, checkpoint.go).
	checkpoint *prometheus.HistogramVec
}

// newWriteMetrics describes the write metrics (see writeMetrics).
func newWriteMetrics() *writeMetrics {
	// Fine around a commit's milliseconds, coarse up to a stalled second.
	buckets := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2}
	m := &writeMetrics{
		waitedVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_store_write_wait_seconds",
			Help:    "Time a write transaction waited for its turn at SQLite's one writer, by work (connects, log, other); not observed on PostgreSQL, whose writers run concurrently.",
			Buckets: buckets,
		}, []string{"work"}),
		heldVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_store_write_seconds",
			Help:    "Time a write transaction held SQLite's one writer (on PostgreSQL: ran), retries included, by work (connects: group commits of decisions, sessions and Host requests; log: the sequencer's steps; other).",
			Buckets: buckets,
		}, []string{"work"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portcullis_store_group_commit_writes",
			Help:    "Writes (decision records, sessions, on SQLite mail collections) one group commit carried.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
		checkpoint: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_store_wal_checkpoint_seconds",
			Help:    "Time one background checkpoint took to copy SQLite's write-ahead log into the database file and sync it, by step (copy: beside the writes; restart: in the writers' turn, so that the next commit starts the log again); not observed on PostgreSQL.",
			Buckets: buckets,
		}, []string{"step"}),
	}
	for w := range works {
		m.waited[w], m.held[w] = m.waitedVec.WithLabelValues(w.String()), m.heldVec.WithLabelValues(w.String())
	}
	return m
}

// Collectors returns the store's metrics, for the CM's registry.
func (db *DB) Collectors() []prometheus.Collector {
	if db.metrics == nil {
		return nil
	}
	return []prometheus.Collector{db.metrics.waitedVec, db.metrics.heldVec, db.metrics.batch, db.metrics.checkpoint}
}

// observeWait records that a write of w waited d for the writer.
func (m *writeMetrics) observeWait(w work, d time.Duration) {
	if m != nil {
		m.waited[w].Observe(d.Seconds())
	}
}

// observeHeld records that a write of w held the writer (ran) for d.
func (m *writeMetrics) observeHeld(w work, d time.Duration) {
	if m != nil {
		m.held[w].Observe(d.Seconds())
	}
}

// observeBatch records a group commit of n writes.
func (m *writeMetrics) observeBatch(n int) {
	if m != nil {
		m.batch.Observe(float64(n))
	}
}

// observeCheckpoint records a background WAL checkpoint step that took d.
func (m *writeMetrics) observeCheckpoint(step string, d time.Duration) {
	if m != nil {
		m.checkpoint.WithLabelValues(step).Observe(d.Seconds())
	}
}
