package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/certs"
)

// The flood's slow connections come from a process of their own, started at the lowest CPU
// priority: on one machine a flood in the suite's process would take the CPU from the
// legitimate client beside it (and a busy flood of TLS clients takes more than the CS it
// attacks), so the figure would measure the machine, not the CS. An attacker's CPU is
// elsewhere; the CS still pays all of its own.
const (
	// floodEnv carries the flood process's settings; its presence makes the binary one.
	floodEnv = "PORTCULLIS_BENCH_FLOOD"
	// floodReportEvery is how often the flood process reports how many connections it opened.
	floodReportEvery = 100 * time.Millisecond
)

// floodSpec is what the flood process opens: n slow connections of transport to addr, the CA
// file verifying the CS (HTTP only).
type floodSpec struct {
	transport, addr, caFile string
	n                       int
}

func (s floodSpec) encode() string {
	return strings.Join([]string{s.transport, s.addr, s.caFile, strconv.Itoa(s.n)}, "|")
}

func decodeFloodSpec(env string) (floodSpec, error) {
	f := strings.Split(env, "|")
	if len(f) != 4 {
		return floodSpec{}, fmt.Errorf("%s: want 4 fields separated by |, got %d", floodEnv, len(f))
	}
	n, err := strconv.Atoi(f[3])
	if err != nil || n <= 0 {
		return floodSpec{}, fmt.Errorf("%s: bad count %q", floodEnv, f[3])
	}
	if f[0] != "tcp" && f[0] != "http" {
		return floodSpec{}, fmt.Errorf("%s: unknown transport %q", floodEnv, f[0])
	}
	return floodSpec{transport: f[0], addr: f[1], caFile: f[2], n: n}, nil
}

// runFlood is the flood process: it holds the slow connections of env and prints how many it
// has opened, every floodReportEvery, until its standard input closes.
func runFlood(ctx context.Context, env string) error {
	spec, err := decodeFloodSpec(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the suite closes it, or ends
		cancel()
	}()
	fl := newSlowFlood(ctx)
	defer fl.stop()
	if spec.transport == "tcp" {
		fl.startTCP(spec.addr, spec.n)
	} else {
		pool, err := certs.LoadCertPool(spec.caFile)
		if err != nil {
			return err
		}
		fl.startHTTP(spec.addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, spec.n)
	}
	t := time.NewTicker(floodReportEvery)
	defer t.Stop()
	for {
		if _, err := fmt.Printf("opened %d\n", fl.opened.Load()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// floodProc is a running flood process as the suite sees it.
type floodProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	opened atomic.Int64
	done   chan struct{}
	once   sync.Once
}

// startFlood starts the flood process for spec at the lowest CPU priority (through nice,
// when the system has it) and follows its reports.
func startFlood(spec floodSpec) (*floodProc, error) {
	cmd, in, out, err := startSelf("flood", floodEnv+"="+spec.encode(), true)
	if err != nil {
		return nil, err
	}
	p := &floodProc{cmd: cmd, in: in, done: make(chan struct{})}
	go p.follow(out)
	return p, nil
}

// follow reads the process's reports until it ends.
func (p *floodProc) follow(out io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "opened "); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				p.opened.Store(v)
			}
		}
	}
}

// stop ends the flood: its input closes, it closes its connections and exits; one that does
// not within floodStopTimeout is killed. It may be called more than once.
func (p *floodProc) stop() {
	p.once.Do(func() {
		_ = p.in.Close()
		select {
		case <-p.done:
		case <-time.After(floodStopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		_ = p.cmd.Wait() // its exit status says nothing the figures do not
	})
}

// floodStopTimeout bounds how long the flood process may take to close its connections.
const floodStopTimeout = 30 * time.Second
