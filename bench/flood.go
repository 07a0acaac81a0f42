package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/slowconn"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/relay/relayhttp"
	"github.com/portcullis/portcullis/ticket"
)

// Flood measurement shape.
const (
	// floodSlowInterval is how often a slow connection sends its next byte.
	floodSlowInterval = 10 * time.Second
	// floodReopenPause is how long a slow connection waits to open again once the CS closed it.
	floodReopenPause = time.Second
	// floodPairings is how many legitimate sessions are timed beside each flood.
	floodPairings = 20
	// floodDialTimeout bounds one legitimate half's dial (the target is far below it).
	floodDialTimeout = 30 * time.Second
	// floodSteadyTimeout bounds the wait for the flood to fill its address's places.
	floodSteadyTimeout = 2 * time.Minute
	// floodConnectTarget is the bound on a legitimate client's connect beside a flood.
	floodConnectTarget = 2 * time.Second
	// floodFDsPerConn is the descriptors one slow connection may cost the bench process: a
	// tunnel of the HTTP fallback long-polls on several connections at once (Receivers), sends
	// on one more, and one is being replaced.
	floodFDsPerConn = relayhttp.Receivers + 2
)

// floodHello is what a slow TCP connection sends, a byte at a time: a TLS record header that
// announces a 512-byte ClientHello, then zeros.
var floodHello = []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}

// measureFlood starts a CS with its default limits for each transport, holds cfg.flood slow
// connections (one byte every 10 s) from 127.0.0.1 against it, and times legitimate sessions
// from the same address beside them; it records their set-up times and the CS's memory.
func (b *bench) measureFlood(ctx context.Context, st *stack) error {
	key, err := certs.LoadEd25519PrivateKey(st.ticketKeyPath())
	if err != nil {
		return err
	}
	pool, err := certs.LoadCertPool(st.c.CAFile)
	if err != nil {
		return err
	}
	m := &floodMeter{
		signer: &ticket.Signer{KeyID: ticket.KeyID(key.Public().(ed25519.PublicKey)), Key: key},
		tls:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	var errs []error
	for _, transport := range []string{"tcp", "http"} {
		if err := b.floodOne(ctx, st, m, transport); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", transport, err))
		}
	}
	return errors.Join(errs...)
}

// floodMeter mints tickets with the CM's key and dials legitimate halves.
type floodMeter struct {
	signer  *ticket.Signer
	tls     *tls.Config
	relayID string
}

// floodOne measures one transport against a fresh CS.
func (b *bench) floodOne(ctx context.Context, st *stack, m *floodMeter, transport string) error {
	m.relayID = "cs-flood-" + transport
	cs, err := st.c.StartRelay(ctx, localstack.RelaySpec{ID: m.relayID, Region: "eu-north"})
	if err != nil {
		return err
	}
	if err := st.c.WaitRelays(ctx, st.admin, m.relayID); err != nil {
		return err
	}
	before, err := rssBytes(cs.Pid())
	if err != nil {
		return err
	}
	n := min(b.cfg.flood, (b.fileLimit-fdHeadroom)/floodFDsPerConn)
	if n < b.cfg.flood {
		b.log.Warn("bench: open-file limit caps the flood", "limit", b.fileLimit, "connections", n, "asked", b.cfg.flood)
	}
	spec := floodSpec{transport: transport, addr: cs.Addr, caFile: st.c.CAFile, n: n}
	if transport == "http" {
		spec.addr = cs.HTTPAddr
	}
	fl, err := startFlood(spec)
	if err != nil {
		return err
	}
	defer fl.stop() // on every return, an error's too: the holders run until stopped
	perSource := relay.DefaultMaxHandshakesPerSource
	steady := min(n, perSource)
	if err := waitMetrics(ctx, cs.MetricsAddr, func(mt relayMetrics) bool {
		return fl.opened.Load() >= int64(n) && mt.handshakes >= float64(steady) && mt.sourceBusy >= float64(n-steady)
	}); err != nil {
		return fmt.Errorf("the flood of %d did not reach its steady state (%d opened): %w", n, fl.opened.Load(), err)
	}
	under, err := rssBytes(cs.Pid())
	if err != nil {
		return err
	}
	var took []time.Duration
	for i := range floodPairings {
		d, err := m.pair(ctx, transport, cs, fmt.Sprintf("flood-%s-%d-%d", transport, time.Now().UnixNano(), i))
		if err != nil {
			return fmt.Errorf("legitimate session %d beside the flood: %w", i+1, err)
		}
		took = append(took, d)
	}
	mt, _ := readRelayMetrics(ctx, cs.MetricsAddr)
	fl.stop()
	section := "flood_" + transport
	b.r.add(section, "slow_connections", float64(n), "connections")
	b.r.add(section, "displaced", mt.sourceBusy, "connections")
	b.r.add(section, "connect_p50", ms(percentile(took, 50)), "ms")
	b.r.add(section, "connect_max", ms(percentile(took, 100)), "ms")
	b.r.add(section, "cs_rss_before", float64(before)/(1<<20), "MiB")
	b.r.add(section, "cs_rss_under_flood", float64(under)/(1<<20), "MiB")
	b.r.add(section, "cs_memory_per_slow_connection", float64(under-before)/float64(n)/1024, "KiB")
	b.r.target(fmt.Sprintf("connect beside %d slow connections from the same address (%s), max", n, transport), ms(percentile(took, 100)), Below, ms(floodConnectTarget), "ms")
	return nil
}

// pair opens both halves of session sid at once over transport and returns how long the
// later of the two took to be paired.
func (m *floodMeter) pair(ctx context.Context, transport string, cs *localstack.Proc, sid string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, floodDialTimeout)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, role := range []access.Role{access.RoleHost, access.RoleGuest} {
		wg.Go(func() {
			now := time.Now()
			raw, err := m.signer.Mint(ticket.Claims{ID: ticket.NewID(), SessionID: sid, Role: role, Audience: m.relayID,
				Subject: userMail, HostID: "h_bench", IssuedAt: now, NotBefore: now, Expiry: now.Add(ticketTTL)})
			if err != nil {
				errs[i] = err
				return
			}
			var conn net.Conn
			if transport == "tcp" {
				conn, err = relay.Dial(ctx, cs.Addr, m.tls, raw)
			} else {
				conn, err = relayhttp.Dial(ctx, relayhttp.NewHTTPClient(), cs.HTTPAddr, m.tls, raw)
			}
			if err == nil {
				_ = conn.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// slowFlood holds slow connections and opens a new one floodReopenPause after the CS closes
// one, until stop.
type slowFlood struct {
	opened atomic.Int64
	ctx    context.Context // ends at stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newSlowFlood returns a flood without holders, which ends when ctx does or at stop.
func newSlowFlood(ctx context.Context) *slowFlood {
	f := &slowFlood{}
	f.ctx, f.cancel = context.WithCancel(ctx)
	return f
}

// stop ends the holders (closing their connections, which unblocks any Write or Read) and
// waits until every one has returned. It may be called more than once.
func (f *slowFlood) stop() {
	f.cancel()
	f.wg.Wait()
}

// startTCP holds n slow TCP connections to addr.
func (f *slowFlood) startTCP(addr string, n int) {
	var d net.Dialer
	f.loop(n, func() (net.Conn, error) { return d.DialContext(f.ctx, "tcp", addr) }, floodHello)
}

// startHTTP holds n slow tunnels to the HTTP fallback at url (through the Guest's own client,
// long-polls and all, TLS done), each sending the header of a large hello a byte at a time.
func (f *slowFlood) startHTTP(url string, conf *tls.Config, n int) {
	hc := relayhttp.NewHTTPClient()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = floodFDsPerConn * n
	f.loop(n, func() (net.Conn, error) {
		return relayhttp.Open(f.ctx, hc, url, conf)
	}, []byte{0x01, 0, 0, 0x20, 0}) // frameHello of 8 KiB: the CS reads on
}

// loop runs n holders: open a connection, send the bytes of prefix (then zeros) one every
// floodSlowInterval until the CS closes it, pause, and again.
func (f *slowFlood) loop(n int, open func() (net.Conn, error), prefix []byte) {
	ctx := f.ctx
	for range n {
		f.wg.Go(func() {
			for ctx.Err() == nil {
				c, err := open()
				if err != nil {
					sleepCtx(ctx, floodReopenPause)
					continue
				}
				f.opened.Add(1)
				hold(ctx, c, prefix)
				sleepCtx(ctx, floodReopenPause)
			}
		})
	}
}

// hold writes the bytes of prefix, then zeros, one every floodSlowInterval until c is closed
// by the CS or ctx ends.
func hold(ctx context.Context, c net.Conn, prefix []byte) {
	slowconn.Dribble(ctx, c, prefix, floodSlowInterval)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// relayMetrics are the CS metrics the flood watches.
type relayMetrics struct {
	handshakes, sourceBusy float64
}

// readRelayMetrics scrapes the CS's /metrics.
func readRelayMetrics(ctx context.Context, addr string) (relayMetrics, error) {
	m, err := scrapeCS(ctx, addr)
	return relayMetrics{
		handshakes: m["portcullis_relay_handshakes_in_progress"],
		sourceBusy: m[`portcullis_relay_refusals_total{reason="`+string(access.ErrSourceBusy)+`"}`],
	}, err
}

// waitMetrics polls the CS's metrics until ok holds or floodSteadyTimeout passes.
func waitMetrics(ctx context.Context, addr string, ok func(relayMetrics) bool) error {
	ctx, cancel := context.WithTimeout(ctx, floodSteadyTimeout)
	defer cancel()
	for {
		m, err := readRelayMetrics(ctx, addr)
		if err == nil && ok(m) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %+v, %v)", ctx.Err(), m, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
