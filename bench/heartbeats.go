package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/api"
)

// Shape of the heartbeats section's load.
const (
	// heartbeatDepth is how many heartbeats a simulated Host pipelines on its connection
	// (HTTP/1.1 pipelining): written in one TLS record, answered in order. It lets the load
	// generator, which shares the machine with the CM, spend little CPU per heartbeat, so the
	// figure measures the CM.
	heartbeatDepth = 8
	// heartbeatReadBuffer is a beater's read buffer: a batch of answers.
	heartbeatReadBuffer = 8 << 10
)

// measureHeartbeats enrols simulated Hosts and has each pipeline heartbeats on its own mTLS
// connection as fast as the CM answers; it reports the rate, the CM's CPU per heartbeat and
// the load generator's own.
func (b *bench) measureHeartbeats(ctx context.Context, st *stack) error {
	r := b.r
	hosts, err := enrollSimHosts(ctx, st, "hb", heartbeatHosts)
	if err != nil {
		return err
	}
	body, err := json.Marshal(api.Heartbeat{RelayLatencies: map[string]int64{relayID: 1}})
	if err != nil {
		return err
	}
	// Every Host's TLS connection is opened before the measured phase, not in it.
	beaters := make([]*beater, len(hosts))
	if err := parallel(len(hosts), heartbeatWorkers, func(i int) error {
		bt, err := dialBeater(ctx, st.c.CMURL, hosts[i], body, heartbeatDepth)
		if err != nil {
			return err
		}
		beaters[i] = bt
		return bt.beat(ctx)
	}); err != nil {
		return fmt.Errorf("first heartbeats: %w", err)
	}
	defer func() {
		for _, bt := range beaters {
			if bt != nil {
				bt.close()
			}
		}
	}()
	beat := func(ctx context.Context, w int) error { return beaters[w].beat(ctx) }
	closedLoop(ctx, len(beaters), time.Second, beat)
	cpu := startCPU(st.c.CM().Pid())
	self := startCPU(os.Getpid())
	res := b.profiled(st, "cm-heartbeat", func() loadResult { return closedLoop(ctx, len(beaters), b.cfg.duration, beat) })
	if err := b.phaseError(res, "heartbeats"); err != nil {
		return err
	}
	beats := res.ok * heartbeatDepth
	perBeat, err := cpu.perOp(beats)
	if err != nil {
		return err
	}
	genPerBeat, err := self.perOp(beats)
	if err != nil {
		return err
	}
	rate := float64(beats) / res.elapsed.Seconds()
	r.add("heartbeats", "heartbeats_per_s", rate, "1/s")
	r.add("heartbeats", "batch_p50", ms(percentile(res.latencies, 50)), "ms")
	r.add("heartbeats", "batch_p99", ms(percentile(res.latencies, 99)), "ms")
	r.add("heartbeats", "pipeline_depth", heartbeatDepth, "heartbeats")
	r.add("heartbeats", "cm_cpu_per_heartbeat", us(perBeat), "µs")
	r.add("heartbeats", "cm_cpu_bound_heartbeats_per_s", cpuBound(perBeat), "1/s")
	r.add("heartbeats", "loadgen_cpu_per_heartbeat", us(genPerBeat), "µs")
	r.target("heartbeats/s", rate, AtLeast, 20000, "1/s")
	return nil
}

// beater is one simulated Host's mTLS connection to the CM, on which it pipelines heartbeats:
// depth requests, built once, go out in one write, and their answers are read in order.
type beater struct {
	host  string
	conn  *tls.Conn
	br    *bufio.Reader
	batch []byte
	depth int
}

// dialBeater opens Host h's connection to the CM at cmURL, for batches of depth heartbeats
// carrying body.
func dialBeater(ctx context.Context, cmURL string, h *simHost, body []byte, depth int) (*beater, error) {
	u, err := url.Parse(cmURL)
	if err != nil {
		return nil, fmt.Errorf("CM URL: %w", err)
	}
	cfg := h.tls.Clone()
	cfg.ServerName = u.Hostname()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", h.name, err)
	}
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		api.PathHeartbeat, u.Host, len(body), body)
	return &beater{host: h.name, conn: c.(*tls.Conn), br: bufio.NewReaderSize(c, heartbeatReadBuffer), batch: bytes.Repeat(req, depth), depth: depth}, nil
}

// beat sends one batch of heartbeats and reads every answer; any answer but 200 is an error.
// It finishes the batch even when ctx ends meanwhile (within requestTimeout), so that the
// connection is ready for the next phase.
func (bt *beater) beat(context.Context) error {
	if err := bt.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return err
	}
	if _, err := bt.conn.Write(bt.batch); err != nil {
		return fmt.Errorf("heartbeats of %s: %w", bt.host, err)
	}
	for range bt.depth {
		if err := readAnswer(bt.br); err != nil {
			return fmt.Errorf("heartbeat answer to %s: %w", bt.host, err)
		}
	}
	return nil
}

func (bt *beater) close() { bt.conn.Close() }

// readAnswer reads one HTTP/1.1 answer with a Content-Length body from br and discards it; an
// answer other than 200 is an error.
func readAnswer(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	status, ok := bytes.CutPrefix(line, []byte("HTTP/1.1 "))
	if !ok || len(status) < 3 {
		return fmt.Errorf("malformed status line %q", line)
	}
	code := string(status[:3])
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return fmt.Errorf("malformed Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return fmt.Errorf("answer %s without a Content-Length", code)
	}
	if _, err := br.Discard(length); err != nil {
		return err
	}
	if code != "200" {
		return fmt.Errorf("status %s", code)
	}
	return nil
}
