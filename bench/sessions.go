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
	// settleTime lets the CS finish its handshakes' garbage before the RSS is read.
	settleTime = 3 * time.Second
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
	cs, err := st.c.StartRelay(ctx, localstack.RelaySpec{ID: idleRelayID, Region: "eu-north", Args: []string{
		"--max-sessions", strconv.Itoa(n + fdHeadroom),
	}})
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
	time.Sleep(settleTime)
	before, err := rssBytes(cs.Pid())
	if err != nil {
		return err
	}
	for from := 0; from < n; from += sessionBatch {
		to := min(from+sessionBatch, n)
		if err := holder.request(from, to); err != nil {
			return err
		}
		gerr := guests.open(ctx, from, to)
		herr := holder.answer()
		if err := errors.Join(gerr, herr); err != nil {
			return fmt.Errorf("sessions %d..%d: %w", from, to, err)
		}
	}
	time.Sleep(settleTime)
	after, err := rssBytes(cs.Pid())
	if err != nil {
		return err
	}
	perSession := float64(after-before) / float64(n) / 1024
	b.r.add("sessions", "idle_sessions", float64(n), "sessions")
	b.r.add("sessions", "cs_rss_before", float64(before)/(1<<20), "MiB")
	b.r.add("sessions", "cs_rss_after", float64(after)/(1<<20), "MiB")
	b.r.add("sessions", "cs_memory_per_session", perSession, "KiB")
	b.r.target("memory per idle relayed session", perSession, AtMost, 32, "KiB")
	return nil
}

// holder is the hold process as the suite drives it.
type holder struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startHolder(spec holdSpec) (*holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), holdEnv+"="+spec.encode())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	return &holder{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
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
