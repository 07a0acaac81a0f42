package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/api"
)

// cmMetric reads one series of the CM's metrics: series is its name with its labels as the CM
// writes them (`name{a="x",b="y"}`, labels in order), or a bare name.
func cmMetric(ctx context.Context, st *stack, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.c.CMURL+api.PathMetrics, nil)
	if err != nil {
		return 0, err
	}
	resp, err := st.c.HTTPClient().Do(req)
	if err != nil {
		return 0, fmt.Errorf("CM metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in the CM's metrics", series)
}

// connectSeries is the series of portcullis_cm_request_duration_seconds (suffix: "_count", or
// "_bucket" with le) for granted connects.
func connectSeries(suffix, le string) string {
	labels := `code="200",method="post",route="POST ` + api.PathConnect + `"`
	if le != "" {
		labels += `,le="` + le + `"`
	}
	return "portcullis_cm_request_duration_seconds" + suffix + "{" + labels + "}"
}

// connectsWithin counts the granted connects the CM answered so far, and those it answered
// within the bucket bound le (seconds, as the CM writes it).
func connectsWithin(ctx context.Context, st *stack, le string) (within, all float64, err error) {
	if within, err = cmMetric(ctx, st, connectSeries("_bucket", le)); err != nil {
		return 0, 0, err
	}
	all, err = cmMetric(ctx, st, connectSeries("_count", ""))
	return within, all, err
}
