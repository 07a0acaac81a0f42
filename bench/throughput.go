package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint/guest"
)

// forwardTargetPort is the port of the bulk source on the Host's side: the default policy lets
// the ops group forward to localhost:8080 (and localhost:5432).
const forwardTargetPort = 8080

// throughputRuns is how many transfers each path makes; the median counts.
const throughputRuns = 5

// source serves size bytes to every connection, then closes it: the far end of every path.
type source struct {
	lns  []net.Listener
	size int64
	buf  []byte
}

// startSource listens on port on 127.0.0.1 and, when the machine has IPv6 loopback, on ::1
// too ("localhost" may resolve to either).
func startSource(port int, size int64) (*source, error) {
	s := &source{size: size, buf: make([]byte, 256<<10)}
	for i := range s.buf {
		s.buf[i] = byte(i * 7)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("bulk source on port %d (the policy's forward target; is it free?): %w", port, err)
	}
	s.lns = append(s.lns, ln)
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
		s.lns = append(s.lns, ln6)
	}
	for _, l := range s.lns {
		go s.serve(l)
	}
	return s, nil
}

func (s *source) serve(ln net.Listener) {
	acceptEach(ln, func(c net.Conn) {
		for left := s.size; left > 0; {
			n, err := c.Write(s.buf[:min(left, int64(len(s.buf)))])
			if err != nil {
				return
			}
			left -= int64(n)
		}
	})
}

// acceptEach runs handle on its own goroutine for every connection ln accepts, and closes the
// connection after; it returns when ln is closed.
func acceptEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func (s *source) close() {
	for _, l := range s.lns {
		l.Close()
	}
}

// download reads everything addr sends and returns the rate in MB/s (10^6 bytes per second),
// timed from the dial to the end of the stream. Fewer bytes than want is an error.
func download(ctx context.Context, addr string, want int64) (float64, error) {
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	// Hidden behind plain wrappers, so that the copy reads in the buffer's size: io.Discard's
	// ReadFrom (which io.CopyBuffer would take) reads 8 KiB at a time, and the reads of the
	// measuring end then cost the machine a third of a CPU at 400 MB/s.
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{c}, make([]byte, 256<<10))
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("read from %s: %w", addr, err)
	}
	if n != want {
		return 0, fmt.Errorf("read %d bytes from %s, want %d", n, addr, want)
	}
	return float64(n) / 1e6 / elapsed.Seconds(), nil
}

// relayPath is one running path to the source: the address a download dials, the processes
// whose CPU time it costs (none when it runs inside the suite) and how to stop it.
type relayPath struct {
	addr string
	pids []int
	stop func()
}

// throughputPath is one way to the source: start runs it.
type throughputPath struct {
	name  string
	start func() (relayPath, error)
}

// pathSample is one download through a path: its rate and the CPU its processes spent on it
// (NaN when it could not be read).
type pathSample struct {
	rate, cpuMillis float64
}

// measureThroughput measures each path to the source and records the figures, the ratios and
// the target (Portcullis at least as fast as OpenSSH's relayed session). Beside each rate it
// records the CPU time the path's processes (and their children) spent per MB: on a loaded
// machine rates move with the load, CPU per MB much less.
func measureThroughput(ctx context.Context, r *Report, st *stack, ossh *openSSH, dir string, size int64) error {
	src, err := startSource(forwardTargetPort, size)
	if err != nil {
		return err
	}
	defer src.close()
	target := fmt.Sprintf("127.0.0.1:%d", forwardTargetPort)
	paths := []throughputPath{
		{"loopback_tcp", func() (relayPath, error) { return relayPath{addr: target, stop: func() {}}, nil }},
		{"socat", func() (relayPath, error) { return startSocat(ctx, dir, target) }},
		{"openssh_jump", func() (relayPath, error) { return startSSHForward(ctx, ossh, target) }},
		{"portcullis", func() (relayPath, error) { return startPortcullis(ctx, st, dir) }},
	}
	if st.fast != nil {
		paths = append(paths, throughputPath{"portcullis_fast", func() (relayPath, error) { return startPortcullisFast(ctx, st, dir) }})
	}
	for _, p := range httpProxies {
		paths = append(paths, throughputPath{"portcullis_http_" + p.name, func() (relayPath, error) { return startPortcullisViaProxy(ctx, st, dir, p.name) }})
	}
	// Start every path, then measure them in interleaved rounds, so that a change in the
	// machine's load touches every path alike; each path's median counts.
	running := map[string]relayPath{}
	for _, p := range paths {
		rp, err := p.start()
		if err != nil {
			r.fail(fmt.Errorf("throughput %s: %w", p.name, err))
			continue
		}
		defer rp.stop()
		running[p.name] = rp
	}
	samples := map[string][]pathSample{}
	for range throughputRuns {
		for _, p := range paths {
			rp, ok := running[p.name]
			if !ok {
				continue
			}
			s, err := measurePath(ctx, rp, size)
			if err != nil {
				r.fail(fmt.Errorf("throughput %s: %w", p.name, err))
				delete(running, p.name)
				continue
			}
			samples[p.name] = append(samples[p.name], s)
		}
	}
	rates := map[string]float64{}
	cpu := map[string]float64{}
	for _, p := range paths {
		s := samples[p.name]
		if len(s) != throughputRuns {
			continue
		}
		rates[p.name] = median(s, func(x pathSample) float64 { return x.rate })
		r.add("throughput", p.name, rates[p.name], "MB/s")
		if len(running[p.name].pids) > 0 {
			cpu[p.name] = cpuPerMB(s, size)
			r.add("throughput", p.name+" CPU", cpu[p.name], "ms/MB")
		}
	}
	pc := rates["portcullis"]
	r.ratio("throughput", "portcullis/loopback_tcp", pc, rates["loopback_tcp"])
	r.ratio("throughput", "portcullis/socat", pc, rates["socat"])
	vsSSH := r.ratio("throughput", "portcullis/openssh_jump", pc, rates["openssh_jump"])
	if cpu["portcullis"] > 0 && cpu["openssh_jump"] > 0 {
		r.ratio("throughput", "portcullis CPU/openssh_jump CPU", cpu["portcullis"], cpu["openssh_jump"])
	} else {
		r.notef("throughput: no CPU ratio, a path's CPU time over %d runs of %d bytes was below the clock's resolution", throughputRuns, size)
	}
	r.target("relay throughput vs OpenSSH ssh -J", vsSSH, AtLeast, 1.0, "x")
	if st.fast != nil {
		fastVsSSH := r.ratio("throughput", "portcullis_fast/openssh_jump", rates["portcullis_fast"], rates["openssh_jump"])
		r.ratio("throughput", "portcullis_fast/portcullis", rates["portcullis_fast"], pc)
		if cpu["portcullis_fast"] > 0 && cpu["openssh_jump"] > 0 {
			r.ratio("throughput", "portcullis_fast CPU/openssh_jump CPU", cpu["portcullis_fast"], cpu["openssh_jump"])
		}
		r.target("relay throughput at the fast level vs OpenSSH ssh -J", fastVsSSH, AtLeast, 1.5, "x")
	}
	for _, p := range httpProxies {
		name := "portcullis_http_" + p.name
		vsTCP := r.ratio("throughput", name+"/portcullis", rates[name], pc)
		r.target("HTTP fallback through "+p.name+" (CONNECT denied) vs the TCP path", vsTCP, AtLeast, 0.4, "x")
	}
	return nil
}

// cpuPerMB is the CPU its processes spent per MB over all of a path's samples of size bytes:
// summed rather than a median, since one small download may stay under a clock tick.
func cpuPerMB(s []pathSample, size int64) float64 {
	var total float64
	for _, x := range s {
		total += x.cpuMillis
	}
	return total / (float64(size) * float64(len(s)) / 1e6)
}

// measurePath downloads size bytes through rp and measures the CPU its processes spent; a
// CPU time that cannot be read (no /proc) is NaN, recorded as not measured, and the rate
// still counts.
func measurePath(ctx context.Context, rp relayPath, size int64) (pathSample, error) {
	before, cpuErr := treeCPU(rp.pids...)
	rate, err := download(ctx, rp.addr, size)
	if err != nil || len(rp.pids) == 0 {
		return pathSample{rate: rate}, err
	}
	after, err := treeCPU(rp.pids...)
	if cpuErr != nil || err != nil {
		return pathSample{rate: rate, cpuMillis: math.NaN()}, nil
	}
	return pathSample{rate: rate, cpuMillis: float64((after - before).Milliseconds())}, nil
}

// median returns the median of f over s (which is not empty).
func median[T any](s []T, f func(T) float64) float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// startSocat runs a forking socat relay from a free port to target.
func startSocat(ctx context.Context, dir, target string) (relayPath, error) {
	port, err := freePort()
	if err != nil {
		return relayPath{}, err
	}
	cmd := exec.Command("socat", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port), "TCP:"+target)
	return startListener(ctx, cmd, filepath.Join(dir, "socat.log"), port)
}

// startListener starts cmd, which must come to listen on port on 127.0.0.1, and waits until it
// does. The path's process is cmd's.
func startListener(ctx context.Context, cmd *exec.Cmd, logPath string, port int) (relayPath, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return relayPath{}, err
	}
	if err := waitListening(ctx, addr); err != nil {
		p.stop()
		return relayPath{}, fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	return relayPath{addr: addr, pids: []int{p.cmd.Process.Pid}, stop: p.stop}, nil
}

// startSSHForward runs `ssh -J jump target -N -L port:target`; the path's processes are the
// client and both daemons.
func startSSHForward(ctx context.Context, o *openSSH, target string) (relayPath, error) {
	if o == nil {
		return relayPath{}, errors.New("OpenSSH daemons did not start")
	}
	port, err := freePort()
	if err != nil {
		return relayPath{}, err
	}
	p, err := o.forward(ctx, port, target)
	if err != nil {
		return relayPath{}, err
	}
	pids := []int{p.cmd.Process.Pid, o.jump.cmd.Process.Pid, o.target.cmd.Process.Pid}
	return relayPath{addr: fmt.Sprintf("127.0.0.1:%d", port), pids: pids, stop: p.stop}, nil
}

// startPortcullis runs `portcullis forward HOST PORT:localhost:8080` when the binary has the
// command, and otherwise the same data path in-process (startPortcullisForward). The path's
// processes are the Guest, the CS and the Host.
func startPortcullis(ctx context.Context, st *stack, dir string) (relayPath, error) {
	if st.c.Guest(ctx, st.user, "forward", "--help").Run() != nil {
		return startPortcullisForward(ctx, st)
	}
	port, err := freePort()
	if err != nil {
		return relayPath{}, err
	}
	cmd := st.c.Guest(context.WithoutCancel(ctx), st.user, "forward", hostName, fmt.Sprintf("%d:localhost:%d", port, forwardTargetPort))
	rp, err := startListener(ctx, cmd, filepath.Join(dir, "forward.log"), port)
	if err == nil {
		rp.pids = append(rp.pids, st.relay.Pid(), st.host.Pid())
	}
	return rp, err
}

// startPortcullisFast runs `portcullis forward --encryption fast` to the Host at the fast
// level: both ends at fast, under a policy that allows it, so the relay drops the legs' TLS.
// The path's processes are the Guest, the CS and that Host.
func startPortcullisFast(ctx context.Context, st *stack, dir string) (relayPath, error) {
	port, err := freePort()
	if err != nil {
		return relayPath{}, err
	}
	cmd := st.c.Guest(context.WithoutCancel(ctx), st.user, "forward", "--encryption", access.LevelFast, fastHostName,
		fmt.Sprintf("%d:localhost:%d", port, forwardTargetPort))
	rp, err := startListener(ctx, cmd, filepath.Join(dir, "forward-fast.log"), port)
	if err == nil {
		rp.pids = append(rp.pids, st.relay.Pid(), st.fast.Pid())
	}
	return rp, err
}

// startPortcullisForward opens one session to the bench Host as alice with the forward
// channel, and serves a local port whose connections each become a direct-tcpip channel to
// the policy's forward target: Guest → CS (TLS) → Host (TLS), SSH end to end. It runs inside
// the suite, so its CPU time is not measured.
func startPortcullisForward(ctx context.Context, st *stack) (relayPath, error) {
	pool, err := certs.LoadCertPool(st.c.CAFile)
	if err != nil {
		return relayPath{}, err
	}
	g := &guest.Client{CMURL: st.c.CMURL, RootCAs: pool, IDToken: st.user.IDToken}
	sess, err := g.Connect(ctx, hostName, []string{"forward"})
	if err != nil {
		return relayPath{}, fmt.Errorf("connect: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sess.Close()
		return relayPath{}, fmt.Errorf("listen: %w", err)
	}
	target := fmt.Sprintf("localhost:%d", forwardTargetPort)
	go acceptEach(ln, func(c net.Conn) {
		ch, err := sess.Dial("tcp", target)
		if err != nil {
			return
		}
		defer ch.Close()
		go func() { _, _ = io.Copy(ch, c) }()
		_, _ = io.Copy(c, ch)
	})
	return relayPath{addr: ln.Addr().String(), stop: func() { ln.Close(); sess.Close() }}, nil
}
