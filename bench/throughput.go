package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

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
	n, err := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("read from %s: %w", addr, err)
	}
	if n != want {
		return 0, fmt.Errorf("read %d bytes from %s, want %d", n, addr, want)
	}
	return float64(n) / 1e6 / elapsed.Seconds(), nil
}

// throughputPath is one way to the source: start returns the address to download from.
type throughputPath struct {
	name  string
	start func() (addr string, stop func(), err error)
}

// measureThroughput measures each path to the source and records the figures, the ratios and
// the target (Portcullis at least as fast as OpenSSH's relayed session).
func measureThroughput(ctx context.Context, r *Report, st *stack, ossh *openSSH, dir string, size int64) error {
	src, err := startSource(forwardTargetPort, size)
	if err != nil {
		return err
	}
	defer src.close()
	target := fmt.Sprintf("127.0.0.1:%d", forwardTargetPort)
	paths := []throughputPath{
		{"loopback_tcp", func() (string, func(), error) { return target, func() {}, nil }},
		{"socat", func() (string, func(), error) { return startSocat(ctx, dir, target) }},
		{"openssh_jump", func() (string, func(), error) { return startSSHForward(ctx, ossh, target) }},
		{"portcullis", func() (string, func(), error) { return startPortcullis(ctx, st, dir) }},
	}
	for _, p := range httpProxies {
		paths = append(paths, throughputPath{"portcullis_http_" + p.name, func() (string, func(), error) { return startPortcullisViaProxy(ctx, st, dir, p.name) }})
	}
	// Start every path, then measure them in interleaved rounds, so that a change in the
	// machine's load touches every path alike; each path's median counts.
	addrs := map[string]string{}
	for _, p := range paths {
		addr, stop, err := p.start()
		if err != nil {
			r.fail(fmt.Errorf("throughput %s: %w", p.name, err))
			continue
		}
		defer stop()
		addrs[p.name] = addr
	}
	samples := map[string][]float64{}
	for range throughputRuns {
		for _, p := range paths {
			addr, ok := addrs[p.name]
			if !ok {
				continue
			}
			rate, err := download(ctx, addr, size)
			if err != nil {
				r.fail(fmt.Errorf("throughput %s: %w", p.name, err))
				delete(addrs, p.name)
				continue
			}
			samples[p.name] = append(samples[p.name], rate)
		}
	}
	rates := map[string]float64{}
	for _, p := range paths {
		if s := samples[p.name]; len(s) == throughputRuns {
			slices.Sort(s)
			rates[p.name] = s[len(s)/2]
			r.add("throughput", p.name, rates[p.name], "MB/s")
		}
	}
	pc := rates["portcullis"]
	r.ratio("throughput", "portcullis/loopback_tcp", pc, rates["loopback_tcp"])
	r.ratio("throughput", "portcullis/socat", pc, rates["socat"])
	vsSSH := r.ratio("throughput", "portcullis/openssh_jump", pc, rates["openssh_jump"])
	r.target("relay throughput vs OpenSSH ssh -J", vsSSH, AtLeast, 1.0, "x")
	for _, p := range httpProxies {
		name := "portcullis_http_" + p.name
		vsTCP := r.ratio("throughput", name+"/portcullis", rates[name], pc)
		r.target("HTTP fallback through "+p.name+" (CONNECT denied) vs the TCP path", vsTCP, AtLeast, 0.4, "x")
	}
	return nil
}

// startSocat runs a forking socat relay from a free port to target.
func startSocat(ctx context.Context, dir, target string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("socat", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port), "TCP:"+target)
	return startListener(ctx, cmd, filepath.Join(dir, "socat.log"), port)
}

// startListener starts cmd, which must come to listen on port on 127.0.0.1, and waits until it
// does. It returns the address and the function that stops the process.
func startListener(ctx context.Context, cmd *exec.Cmd, logPath string, port int) (string, func(), error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return "", nil, err
	}
	if err := waitListening(ctx, addr); err != nil {
		p.stop()
		return "", nil, fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	return addr, p.stop, nil
}

// startSSHForward runs `ssh -J jump target -N -L port:target`.
func startSSHForward(ctx context.Context, o *openSSH, target string) (string, func(), error) {
	if o == nil {
		return "", nil, errors.New("OpenSSH daemons did not start")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	p, err := o.forward(ctx, port, target)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), p.stop, nil
}

// startPortcullis runs `portcullis forward HOST PORT:localhost:8080` when the binary has the
// command, and otherwise the same data path in-process (startPortcullisForward).
func startPortcullis(ctx context.Context, st *stack, dir string) (string, func(), error) {
	if st.c.Guest(ctx, st.user, "forward", "--help").Run() != nil {
		return startPortcullisForward(ctx, st)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := st.c.Guest(context.WithoutCancel(ctx), st.user, "forward", hostName, fmt.Sprintf("%d:localhost:%d", port, forwardTargetPort))
	return startListener(ctx, cmd, filepath.Join(dir, "forward.log"), port)
}

// startPortcullisForward opens one session to the bench Host as alice with the forward
// channel, and serves a local port whose connections each become a direct-tcpip channel to
// the policy's forward target: Guest → CS (TLS) → Host (TLS), SSH end to end.
func startPortcullisForward(ctx context.Context, st *stack) (string, func(), error) {
	pool, err := certs.LoadCertPool(st.c.CAFile)
	if err != nil {
		return "", nil, err
	}
	g := &guest.Client{CMURL: st.c.CMURL, RootCAs: pool, IDToken: st.user.IDToken}
	sess, err := g.Connect(ctx, hostName, []string{"forward"})
	if err != nil {
		return "", nil, fmt.Errorf("connect: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sess.Close()
		return "", nil, fmt.Errorf("listen: %w", err)
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
	return ln.Addr().String(), func() { ln.Close(); sess.Close() }, nil
}
