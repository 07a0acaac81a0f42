package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
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
