package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

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
// within the bucket bound le (seconds, as the CM writes it), in m (scrapeCM's).
func connectsWithin(m map[string]float64, le string) (within, all float64, err error) {
	if within, err = sample(m, connectSeries("_bucket", le)); err != nil {
		return 0, 0, err
	}
	all, err = sample(m, connectSeries("_count", ""))
	return within, all, err
}

// growth is how much series grew from m0 to m1 (two scrapes).
func growth(m0, m1 map[string]float64, series string) (float64, error) {
	v0, err := sample(m0, series)
	if err != nil {
		return 0, err
	}
	v1, err := sample(m1, series)
	return v1 - v0, err
}

// meanGrowth is the mean of the observations a histogram (name, with its labels in braces or
// "") gained from m0 to m1.
func meanGrowth(m0, m1 map[string]float64, name, labels string) (float64, error) {
	sum, err := growth(m0, m1, name+"_sum"+labels)
	if err != nil {
		return 0, err
	}
	n, err := growth(m0, m1, name+"_count"+labels)
	if err != nil || n == 0 {
		return 0, cmp.Or(err, fmt.Errorf("no %s observed", name))
	}
	return sum / n, nil
}

// connectSplit is where the CM's connects spent their time during a phase, from its metrics
// before and after it: the mean decide and commit steps, how busy the database's writer was
// (the write transactions' time over the phase's; SQLite has one writer, so near 100 % every
// connect queues behind the commits before its own) and the writes a group commit carried.
type connectSplit struct {
	decide, commit time.Duration
	writerBusy     float64 // percent of the phase
	writesPerBatch float64
}

// splitConnects reads a connectSplit from the scrapes m0 and m1 taken elapsed apart.
func splitConnects(m0, m1 map[string]float64, elapsed time.Duration) (connectSplit, error) {
	var c connectSplit
	const steps = "portcullis_cm_connect_step_seconds"
	decide, err := meanGrowth(m0, m1, steps, `{step="decide"}`)
	if err != nil {
		return c, err
	}
	commit, err := meanGrowth(m0, m1, steps, `{step="commit"}`)
	if err != nil {
		return c, err
	}
	c.decide, c.commit = seconds(decide), seconds(commit)
	var busy float64
	for _, w := range [...]string{"connects", "log", "checkpoint", "other"} { // the store's work labels
		d, err := growth(m0, m1, `portcullis_store_write_seconds_sum{work="`+w+`"}`)
		if err != nil {
			return c, err
		}
		busy += d
	}
	c.writerBusy = 100 * busy / elapsed.Seconds()
	c.writesPerBatch, err = meanGrowth(m0, m1, "portcullis_store_group_commit_writes", "")
	return c, err
}

// seconds is s seconds as a Duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
