package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Samples are keyed by name and labels as written, a label value with spaces included; comments
// and lines without a value are skipped.
func TestScrapeMetricsKeysSamplesByNameAndLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12\n"+
			`portcullis_cm_request_duration_seconds_bucket{code="200",method="post",route="POST /v1/connect",le="0.02"} 97`+"\n"+
			"garbage\n")
	}))
	defer srv.Close()
	m, err := scrapeMetrics(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sample(m, "go_goroutines"); err != nil || v != 12 {
		t.Errorf("go_goroutines = %v, %v; want 12", v, err)
	}
	if v, err := sample(m, connectSeries("_bucket", "0.02")); err != nil || v != 97 {
		t.Errorf("connect bucket = %v, %v; want 97", v, err)
	}
	if len(m) != 2 {
		t.Errorf("%d samples, want 2: %v", len(m), m)
	}
	if _, err := sample(m, "portcullis_cm_long_polls"); err == nil {
		t.Error("a missing series gave no error")
	}
}

// The split of a phase's connects comes from what the CM's histograms gained during it: the
// writer's busy share sums the write transactions of every kind of work over the phase.
func TestSplitConnectsReadsWhatTheHistogramsGained(t *testing.T) {
	const (
		decide = `portcullis_cm_connect_step_seconds_%s{step="decide"}`
		commit = `portcullis_cm_connect_step_seconds_%s{step="commit"}`
		write  = `portcullis_store_write_seconds_sum{work="%s"}`
		batch  = "portcullis_store_group_commit_writes_%s"
	)
	before, after := map[string]float64{}, map[string]float64{}
	for _, s := range []struct {
		series        string
		before, after float64
	}{
		{fmt.Sprintf(decide, "sum"), 1, 1.5}, {fmt.Sprintf(decide, "count"), 100, 1100},
		{fmt.Sprintf(commit, "sum"), 2, 7}, {fmt.Sprintf(commit, "count"), 100, 1100},
		{fmt.Sprintf(write, "connects"), 5, 6.5}, {fmt.Sprintf(write, "log"), 1, 1.4}, {fmt.Sprintf(write, "other"), 0.5, 0.6},
		{fmt.Sprintf(write, "checkpoint"), 0.2, 0.3},
		{fmt.Sprintf(batch, "sum"), 300, 800}, {fmt.Sprintf(batch, "count"), 100, 300},
	} {
		before[s.series], after[s.series] = s.before, s.after
	}
	got, err := splitConnects(before, after, 2*time.Second)
	want := connectSplit{decide: 500 * time.Microsecond, commit: 5 * time.Millisecond, writerBusy: 105, writesPerBatch: 2.5}
	if err != nil || got.decide != want.decide || got.commit != want.commit ||
		math.Abs(got.writerBusy-want.writerBusy) > 1e-9 || got.writesPerBatch != want.writesPerBatch {
		t.Fatalf("splitConnects = %+v, %v; want %+v", got, err, want)
	}
	delete(after, fmt.Sprintf(write, "log"))
	if _, err := splitConnects(before, after, 2*time.Second); err == nil {
		t.Error("a missing series gave no error")
	}
	after[fmt.Sprintf(write, "log")] = 1.4
	after[fmt.Sprintf(commit, "count")] = 100
	if _, err := splitConnects(before, after, 2*time.Second); err == nil {
		t.Error("a phase without a commit gave no error")
	}
}
