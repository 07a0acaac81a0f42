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

// scrapeMetrics reads a Prometheus text endpoint's samples through client, by name with their
// labels as the endpoint writes them (`name{a="x",b="y"}`).
func scrapeMetrics(ctx context.Context, client *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics at %s: %w", url, err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// The value follows the last space: a label's value may hold spaces (route="POST /x").
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// scrapeCS reads a CS's metrics at its metrics address (host:port, plain HTTP).
func scrapeCS(ctx context.Context, addr string) (map[string]float64, error) {
	return scrapeMetrics(ctx, http.DefaultClient, "http://"+addr+"/metrics")
}

// scrapeCM reads the CM's metrics, as the signed-in user.
func scrapeCM(ctx context.Context, st *stack) (map[string]float64, error) {
	return scrapeMetrics(ctx, st.c.HTTPClient(), st.c.CMURL+api.PathMetrics)
}

// sample is series' value in m (scrapeMetrics'); an error when m lacks it.
func sample(m map[string]float64, series string) (float64, error) {
	v, ok := m[series]
	if !ok {
		return 0, fmt.Errorf("no %s in the metrics", series)
	}
	return v, nil
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
// within the bucket bound le (seconds, as the CM writes it), from one scrape.
func connectsWithin(ctx context.Context, st *stack, le string) (within, all float64, err error) {
	m, err := scrapeCM(ctx, st)
	if err != nil {
		return 0, 0, err
	}
	if within, err = sample(m, connectSeries("_bucket", le)); err != nil {
		return 0, 0, err
	}
	all, err = sample(m, connectSeries("_count", ""))
	return within, all, err
}
