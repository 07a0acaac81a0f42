package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/ticket"
)

// Idle-session measurement shape.
const (
	idleRelayID = "cs-idle"
	// sessionBatch is how many sessions both sides open before they sync: a half waits for its
	// peer only for the CS's pairing timeout, so the two sides must not drift apart.
	sessionBatch = 250
	// dialWorkers is each side's dial concurrency.
	dialWorkers = 32
	// settleTime lets the CS finish its handshakes' garbage and park its idle sessions (5 s
	// without a byte) before its memory is read.
	settleTime = 8 * time.Second
	// idleTime is how long the sessions stay idle before the memory is read again: it must not
	// grow.
	idleTime = time.Minute
	// holdEnv carries the hold process's settings; its presence makes the binary a holder.
	holdEnv = "PORTCULLIS_BENCH_HOLD"
	// ticketTTL is the lifetime of the tickets the suite mints; well under ticket.MaxLifetime.
	ticketTTL = 45 * time.Second
)

// holdSpec is what both sides need to open the halves of session i.
type holdSpec struct {
	addr, caFile, keyPath, nonce string
}

func (h holdSpec) encode() string {
	return strings.Join([]string{h.addr, h.caFile, h.keyPath, h.nonce}, "|")
}

func decodeHoldSpec(s string) (holdSpec, error) {
	f := strings.Split(s, "|")
	if len(f) != 4 {
		return holdSpec{}, fmt.Errorf("%s: want 4 fields separated by |, got %d", holdEnv, len(f))
	}
	return holdSpec{addr: f[0], caFile: f[1], keyPath: f[2], nonce: f[3]}, nil
}

// halfOpener mints tickets with the CM's key and dials one role's halves.
type halfOpener struct {
	spec   holdSpec
	signer *ticket.Signer
	tls    *tls.Config
	role   access.Role
	mu     sync.Mutex
	conns  []net.Conn
}

func newHalfOpener(spec holdSpec, role access.Role) (*halfOpener, error) {
	key, err := certs.LoadEd25519PrivateKey(spec.keyPath)
	if err != nil {
		return nil, err
	}
	pool, err := certs.LoadCertPool(spec.caFile)
	if err != nil {
		return nil, err
	}
	return &halfOpener{
		spec:   spec,
		signer: &ticket.Signer{KeyID: ticket.KeyID(key.Public().(ed25519.PublicKey)), Key: key},
		tls:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(64)},
		role:   role,
	}, nil
}

// open dials this role's halves of sessions [from, to) and keeps them open.
func (o *halfOpener) open(ctx context.Context, from, to int) error {
	return parallel(to-from, dialWorkers, func(i int) error {
		now := time.Now()
		c := ticket.Claims{
			ID: ticket.NewID(), SessionID: fmt.Sprintf("bench-%s-%d", o.spec.nonce, from+i), Role: o.role,
			Audience: idleRelayID, Subject: userMail, HostID: "h_bench",
			IssuedAt: now, NotBefore: now, Expiry: now.Add(ticketTTL),
		}
		raw, err := o.signer.Mint(c)
		if err != nil {
			return err
		}
		dctx, cancel := context.WithTimeout(ctx, relay.DefaultPairTimeout+10*time.Second)
		defer cancel()
		conn, err := relay.Dial(dctx, o.spec.addr, o.tls, raw)
		if err != nil {
			return err
		}
		o.mu.Lock()
		o.conns = append(o.conns, conn)
		o.mu.Unlock()
		return nil
	})
}

func (o *halfOpener) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.conns {
		c.Close()
	}
	o.conns = nil
}

// runHolder is the hold process: it opens the Host halves of the batches named on stdin
// ("FROM TO" per line), answers "ok" or "error: …" per batch, and keeps every half open until
// stdin closes. It exists because one process may hold only as many connections as its
// open-file limit allows.
func runHolder(ctx context.Context, env string) error {
	spec, err := decodeHoldSpec(env)
	if err != nil {
		return err
	}
	o, err := newHalfOpener(spec, access.RoleHost)
	if err != nil {
		return err
	}
	defer o.closeAll()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var from, to int
		if _, err := fmt.Sscanf(in.Text(), "%d %d", &from, &to); err != nil {
			return fmt.Errorf("hold: bad batch line %q: %w", in.Text(), err)
		}
		if err := o.open(ctx, from, to); err != nil {
			fmt.Printf("error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		fmt.Println("ok")
	}
	return in.Err()
}

// measureSessions opens n idle paired sessions through a fresh CS (n is cut to what the
// open-file limit allows: the CS holds two descriptors per session) and records the CS's RSS
// growth per session.
func (b *bench) measureSessions(ctx context.Context, st *stack) error {
	n := min(b.cfg.sessions, (b.fileLimit-fdHeadroom)/2)
	if n < b.cfg.sessions {
		b.log.Warn("bench: open-file limit caps the idle sessions", "limit", b.fileLimit, "sessions", n, "asked", b.cfg.sessions)
	}
	// Every half comes from 127.0.0.1, 2*dialWorkers handshakes at a time at most, well within
	// the CS's per-source bound; make room for n sessions.
	args := []string{"--max-sessions", strconv.Itoa(n + fdHeadroom)}
	var pprofAddr string
	if b.cfg.profile != "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		args = append(args, "--pprof-listen", pprofAddr)
	}
	cs, err := st.c.StartRelay(ctx, localstack.RelaySpec{ID: idleRelayID, Region: "eu-north", Args: args})
	if err != nil {
		return err
	}
	if err := st.c.WaitRelays(ctx, st.admin, idleRelayID); err != nil {
		return err
	}
	spec := holdSpec{addr: cs.Addr, caFile: st.c.CAFile, keyPath: st.ticketKeyPath(), nonce: strconv.FormatInt(time.Now().UnixNano(), 36)}
	guests, err := newHalfOpener(spec, access.RoleGuest)
	if err != nil {
		return err
	}
	defer guests.closeAll()
	holder, err := startHolder(spec)
	if err != nil {
		return err
	}
	defer holder.close()
	settle, idle := settleTime, idleTime
	if b.cfg.smoke {
		settle, idle = time.Second, time.Second
	}
	time.Sleep(settle)
	before, err := readCSMemory(ctx, cs.Pid(), cs.MetricsAddr)
	if err != nil {
		return err
	}
	b.r.add("sessions", "cs_rss_before", mib(before.rss), "MiB")
	var last csMemory
	from := 0
	for _, at := range checkpoints(n) {
		for ; from < at; from += sessionBatch {
			to := min(from+sessionBatch, at)
			if err := holder.request(from, to); err != nil {
				return err
			}
			gerr := guests.open(ctx, from, to)
			herr := holder.answer()
			if err := errors.Join(gerr, herr); err != nil {
				return fmt.Errorf("sessions %d..%d: %w", from, to, err)
			}
		}
		from = at
		time.Sleep(settle)
		if last, err = readCSMemory(ctx, cs.Pid(), cs.MetricsAddr); err != nil {
			return err
		}
		b.recordSessions(fmt.Sprintf("at_%d", at), at, before, last)
	}
	time.Sleep(idle)
	later, err := readCSMemory(ctx, cs.Pid(), cs.MetricsAddr)
	if err != nil {
		return err
	}
	b.recordSessions(fmt.Sprintf("at_%d_after_%s_idle", n, idle), n, before, later)
	if pprofAddr != "" {
		if err := fetchURL("http://"+pprofAddr+"/debug/pprof/heap", filepath.Join(b.cfg.profile, "cs-sessions.heap")); err != nil {
			return err
		}
	}
	b.r.add("sessions", "idle_sessions", float64(n), "sessions")
	b.r.add("sessions", "cs_memory_growth_while_idle", float64(later.rss-last.rss)/float64(n)/1024, "KiB/session")
	perSession := float64(later.rss-before.rss) / float64(n) / 1024
	b.r.add("sessions", "cs_memory_per_session", perSession, "KiB")
	b.r.target("memory per idle relayed session", perSession, AtMost, 32, "KiB")
	return nil
}

// checkpoints are the session counts at which the CS's memory is read: 1,000, 5,000 and n,
// those below n only.
func checkpoints(n int) []int {
	var at []int
	for _, c := range []int{1000, 5000} {
		if c < n {
			at = append(at, c)
		}
	}
	return append(at, n)
}

// recordSessions records the CS's memory per session with n sessions open.
func (b *bench) recordSessions(label string, n int, before, now csMemory) {
	per := func(a, b float64) float64 { return (a - b) / float64(n) / 1024 }
	b.r.add("sessions", label+"_cs_rss", mib(now.rss), "MiB")
	b.r.add("sessions", label+"_rss_per_session", per(float64(now.rss), float64(before.rss)), "KiB")
	b.r.add("sessions", label+"_heap_per_session", per(now.heap, before.heap), "KiB")
	b.r.add("sessions", label+"_stack_per_session", per(now.stack, before.stack), "KiB")
	b.r.add("sessions", label+"_goroutines_per_session", (now.goroutines-before.goroutines)/float64(n), "goroutines")
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// csMemory is what the CS's memory is made of: its RSS (from /proc) and, from its metrics,
// the Go heap in use, the goroutine stacks and the goroutines.
type csMemory struct {
	rss                     int64
	heap, stack, goroutines float64
}

func readCSMemory(ctx context.Context, pid int, metricsAddr string) (csMemory, error) {
	rss, err := rssBytes(pid)
	if err != nil {
		return csMemory{}, err
	}
	m, err := scrapeCS(ctx, metricsAddr)
	if err != nil {
		return csMemory{}, err
	}
	return csMemory{rss: rss, heap: m["go_memstats_heap_inuse_bytes"], stack: m["go_memstats_stack_inuse_bytes"], goroutines: m["go_goroutines"]}, nil
}

// holder is the hold process as the suite drives it.
type holder struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startHolder(spec holdSpec) (*holder, error) {
	cmd, in, out, err := startSelf("hold", holdEnv+"="+spec.encode(), false)
	if err != nil {
		return nil, err
	}
	return &holder{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// startSelf starts this binary again with env added to its environment (which makes it a
// helper process, named name in errors), at the lowest CPU priority when niced and the system
// has nice, and returns its standard input and output.
func startSelf(name, env string, niced bool) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.Command(self)
	if niced {
		if nice, err := exec.LookPath("nice"); err == nil {
			cmd = exec.Command(nice, "-n", "19", self)
		}
	}
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return cmd, in, out, nil
}

func (h *holder) request(from, to int) error {
	_, err := fmt.Fprintf(h.in, "%d %d\n", from, to)
	return err
}

func (h *holder) answer() error {
	if !h.out.Scan() {
		return fmt.Errorf("hold process ended: %v", h.out.Err())
	}
	if line := h.out.Text(); line != "ok" {
		return fmt.Errorf("hold process: %s", line)
	}
	return nil
}

func (h *holder) close() {
	h.in.Close()
	_ = h.cmd.Wait()
}
