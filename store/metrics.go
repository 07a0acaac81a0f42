package store

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// work names what a write transaction does, the label of the store's write metrics.
type work string

const (
	// workConnects is a group commit: decision records with their sessions and Host requests,
	// sessions alone, and on SQLite the Hosts' mail collections (groupcommit.go).
	workConnects work = "connects"
	// workLog is a step of the decision log's sequencer (AppendLog).
	workLog work = "log"
	// workOther is every other write (Hosts, relays, leases, locks, tokens, the CS's reports).
	workOther work = "other"
)

// writeMetrics times the store's writes: how long each waited for its turn at SQLite's one
// writer, how long it held the writer (on PostgreSQL: how long its transaction ran), by work,
// and how many writes each group commit carried. On SQLite the sum of the held times over an
// interval is the share of it the writer was busy: near all of it, every connect queues for
// the writer and waits behind the commits before its own.
type writeMetrics struct {
	waited, held *prometheus.HistogramVec
	batch        prometheus.Histogram
}

// writeBuckets are fine around a commit's milliseconds and coarse up to a stalled second.
var writeBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2}

// newWriteMetrics describes the write metrics (see writeMetrics).
func newWriteMetrics() *writeMetrics {
	return &writeMetrics{
		waited: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_store_write_wait_seconds",
			Help:    "Time a write transaction waited for its turn at SQLite's one writer, by work (connects, log, other); not observed on PostgreSQL, whose writers run concurrently.",
			Buckets: writeBuckets,
		}, []string{"work"}),
		held: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_store_write_seconds",
			Help:    "Time a write transaction held SQLite's one writer (on PostgreSQL: ran), retries included, by work (connects: group commits of decisions, sessions and Host requests; log: the sequencer's steps; other).",
			Buckets: writeBuckets,
		}, []string{"work"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portcullis_store_group_commit_writes",
			Help:    "Writes (decision records, sessions, on SQLite mail collections) one group commit carried.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
	}
}

// Collectors returns the store's metrics, for the CM's registry.
func (db *DB) Collectors() []prometheus.Collector {
	if db.metrics == nil {
		return nil
	}
	return []prometheus.Collector{db.metrics.waited, db.metrics.held, db.metrics.batch}
}

// observeWait records that a write of w waited d for the writer.
func (m *writeMetrics) observeWait(w work, d time.Duration) {
	if m != nil {
		m.waited.WithLabelValues(string(w)).Observe(d.Seconds())
	}
}

// observeHeld records that a write of w held the writer (ran) for d.
func (m *writeMetrics) observeHeld(w work, d time.Duration) {
	if m != nil {
		m.held.WithLabelValues(string(w)).Observe(d.Seconds())
	}
}

// observeBatch records a group commit of n writes.
func (m *writeMetrics) observeBatch(n int) {
	if m != nil {
		m.batch.Observe(float64(n))
	}
}
