package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/store"
)

// Scaling measurement shape: the decision log grows through these sizes, and one page of each
// auditor query is timed at each.
var (
	scalingSizes      = []int{10_000, 100_000, 1_000_000}
	scalingSmokeSizes = []int{1_000, 2_000}
)

// Timing of one page: at least pageRuns runs and pageMinTime in all (after one warm-up run),
// the fastest reported: the page's own cost, least disturbed by whatever else the machine runs
// (a query that reads more rows is slower in every run, the fastest too).
const (
	pageRuns    = 5
	pageMinTime = 200 * time.Millisecond
	pageMaxRuns = 200
)

// Shape of the scaling log: subject, host and outcome each cycle through their values at
// different strides (so that every combination occurs, as in a real log), one record in
// rareEvery is mallory's (a rare user, still a full page at the smallest size) and one in
// rareReasonEvery has a rare reason (fewer than a page at every size).
const (
	rareEvery       = 50
	rareReasonEvery = 10_000
	rareReason      = "outside the change window"
	commonReason    = "reach PROD"
	rareUser        = "mallory@example.com"
)

var (
	scalingSubjects = []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	scalingHosts    = []string{"web-1", "db-1", "kiosk-7"}
	scalingT0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// scalingRecord is the i-th (by time) record of the scaling log.
func scalingRecord(i int) store.Decision {
	d := store.Decision{ID: fmt.Sprintf("dec_scale_%09d", i), Time: scalingT0.Add(time.Duration(i) * time.Second),
		Path: "portcullis/authz/decision", Subject: scalingSubjects[i%len(scalingSubjects)],
		HostID: "id-" + scalingHosts[i/7%len(scalingHosts)], HostName: scalingHosts[i/7%len(scalingHosts)],
		Allow: i/11%3 != 0, Reasons: []string{"ops may reach prod with MFA"}, Input: json.RawMessage(syntheticInput),
		Result: json.RawMessage(`{"allow":true}`), Revision: "r1"}
	if i%rareEvery == rareEvery-1 {
		d.Subject = rareUser
	}
	if i%rareReasonEvery == rareReasonEvery-1 {
		d.Reasons = []string{rareReason}
	}
	return d
}

// scalingQuery is one auditor query of the decision log, for a log of n records.
type scalingQuery struct {
	name   string
	filter func(n int) store.DecisionFilter
}

// scalingQueries are the pages the section times: the ones a B-tree index serves (newest, by
// user, by a rare user, by host, denied, user and denied, a full keyset page 99 % deep) and the
// reason filter, a case-insensitive substring match that the trigram index of migration 0012
// serves (store/reasonindex.go): a reason matching a few records (read from the index), one
// matching nearly all (the time-ordered scan fills the page at once).
var scalingQueries = []scalingQuery{
	{"newest", func(int) store.DecisionFilter { return store.DecisionFilter{} }},
	{"user", func(int) store.DecisionFilter { return store.DecisionFilter{Subject: scalingSubjects[1]} }},
	{"rare_user", func(int) store.DecisionFilter { return store.DecisionFilter{Subject: rareUser} }},
	{"host", func(int) store.DecisionFilter { return store.DecisionFilter{HostName: scalingHosts[1]} }},
	{"denied", func(int) store.DecisionFilter { return store.DecisionFilter{Allow: new(false)} }},
	{"user_denied", func(int) store.DecisionFilter {
		return store.DecisionFilter{Subject: scalingSubjects[1], Allow: new(false)}
	}},
	{"deep_page", func(n int) store.DecisionFilter {
		return store.DecisionFilter{After: store.DecisionCursor(scalingRecord(n/100 + store.DefaultDecisionLimit))}
	}},
	{"rare_reason", func(int) store.DecisionFilter { return store.DecisionFilter{Reason: rareReason} }},
	{"common_reason", func(int) store.DecisionFilter { return store.DecisionFilter{Reason: commonReason} }},
}

// measureScaling grows a decision log through the scaling sizes on SQLite and on a throwaway
// PostgreSQL, and times one page of each query at each size; beside each it records the ratio
// of the largest size's time to the smallest's (1: flat; the sizes' ratio: linear).
func (b *bench) measureScaling(ctx context.Context) error {
	var sizes []int
	for _, n := range scalingSizes {
		if n <= b.cfg.scalingMax {
			sizes = append(sizes, n)
		}
	}
	if b.cfg.smoke {
		sizes = scalingSmokeSizes
	}
	dir := filepath.Join(b.dir, "scaling")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("scaling dir: %w", err)
	}
	if err := b.scaleLog(ctx, "sqlite", "sqlite:"+filepath.Join(dir, "log.db"), sizes); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return b.withPostgres(ctx, func(_ *pgtest.Server, newDB func() (string, error)) error {
		dsn, err := newDB()
		if err != nil {
			return err
		}
		if err := b.scaleLog(ctx, "postgres", dsn, sizes); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		return nil
	})
}

// scaleLog grows one store's log through sizes and times the queries at each.
func (b *bench) scaleLog(ctx context.Context, storeName, dsn string, sizes []int) error {
	db, err := store.Open(ctx, dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	times := map[string][]time.Duration{}
	have := 0
	for _, n := range sizes {
		start := time.Now()
		from := have
		if err := db.ImportDecisions(ctx, n-have, func(i int) store.Decision { return scalingRecord(from + i) }); err != nil {
			return err
		}
		have = n
		b.log.Info("bench: scaling log filled", "store", storeName, "records", n, "took", time.Since(start).Round(time.Millisecond))
		for _, q := range scalingQueries {
			d, err := timePage(ctx, db, q.filter(n))
			if err != nil {
				return fmt.Errorf("%s at %d records: %w", q.name, n, err)
			}
			b.r.add("scaling", fmt.Sprintf("%s_%s_%s", storeName, q.name, sizeLabel(n)), ms(d), "ms")
			times[q.name] = append(times[q.name], d)
		}
	}
	first, last := sizeLabel(sizes[0]), sizeLabel(sizes[len(sizes)-1])
	for _, q := range scalingQueries {
		t := times[q.name]
		b.r.ratio("scaling", fmt.Sprintf("%s_%s_%s/%s", storeName, q.name, last, first), ms(t[len(t)-1]), ms(t[0]))
	}
	return nil
}

// timePage returns the fastest time of one page of f (DefaultDecisionLimit records).
func timePage(ctx context.Context, db *store.DB, f store.DecisionFilter) (time.Duration, error) {
	if _, _, err := db.ListDecisions(ctx, f); err != nil { // warm-up
		return 0, err
	}
	var fastest, total time.Duration
	for runs := 0; runs < pageRuns || total < pageMinTime && runs < pageMaxRuns; runs++ {
		start := time.Now()
		if _, _, err := db.ListDecisions(ctx, f); err != nil {
			return 0, err
		}
		d := time.Since(start)
		if runs == 0 || d < fastest {
			fastest = d
		}
		total += d
	}
	return fastest, nil
}

// sizeLabel names a log size: 10k, 1m.
func sizeLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dm", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}
