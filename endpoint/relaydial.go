package endpoint

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/rawconn"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/relay/relayhttp"
	"github.com/portcullis/portcullis/ticket"
)

// Transports to a Connection Server, and the preferences among them.
const (
	// TransportTCP is TLS over TCP to the CS's relay port (1970 by default).
	TransportTCP = "tcp"
	// TransportHTTP is the HTTP/1.1 fallback (port 80 by default), which passes web proxies.
	TransportHTTP = "http"
	// TransportTCPPlain is TCP whose TLS the CS dropped once paired (the fast level): the
	// session stream's only encryption is the end-to-end SSH. Dial reports it; nobody asks for it.
	TransportTCPPlain = relay.TransportTCPPlain
	// PreferAuto tries TCP first, then HTTP.
	PreferAuto = "auto"
)

// Relay dialing limits.
const (
	// DefaultConnectTimeout bounds reaching a CS over all its transports, before the ticket is
	// sent: a relay that hangs (accepts TCP, never answers) costs this much before the Guest
	// asks the CM for another, within the 3 s failover the relays promise.
	DefaultConnectTimeout = 2500 * time.Millisecond
	// fallbackDelay is how long the first transport has before the next one starts beside it.
	fallbackDelay = 750 * time.Millisecond
	// probeTimeout bounds one latency probe.
	probeTimeout = 2 * time.Second
	// unreachableMS is the latency reported for a relay no probe reached, in milliseconds.
	unreachableMS = 10000
)

// ErrUnreachable means no transport reached the CS (so the ticket was never presented).
var ErrUnreachable = errors.New("endpoint: connection server unreachable")

// RelayDialer reaches a Connection Server over TCP/TLS or the HTTP fallback.
type RelayDialer struct {
	// Preferred is PreferAuto (the default: TCP, then HTTP), TransportTCP or TransportHTTP.
	Preferred string
	// TLS verifies the CS on the TCP transport.
	TLS *tls.Config
	// HTTP carries the HTTP fallback; nil means relayhttp.NewHTTPClient (HTTP_PROXY, NO_PROXY).
	HTTP *http.Client
	// ConnectTimeout bounds reaching the CS over all its transports; 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// PlainLegs asks the CS to carry the session stream on TCP without TLS once paired (an end
	// at access.LevelFast); the HTTP fallback keeps its TLS whatever this says.
	PlainLegs bool
}

// ValidatePreferred checks a preferred_protocol setting.
func ValidatePreferred(p string) error {
	switch p {
	case "", PreferAuto, TransportTCP, TransportHTTP:
		return nil
	}
	return fmt.Errorf("preferred protocol %q: want auto, tcp or http", p)
}

// transports lists the transports to try, in order.
func (d RelayDialer) transports(rel api.RelayAddr) []string {
	switch d.Preferred {
	case TransportTCP:
		return []string{TransportTCP}
	case TransportHTTP:
		return []string{TransportHTTP}
	}
	if rel.HTTPAddr == "" {
		return []string{TransportTCP}
	}
	return []string{TransportTCP, TransportHTTP}
}

// Dial reaches the CS rel over the first transport that connects, presents rawTicket and
// waits for pairing. It returns the session stream and the transport used (TransportTCPPlain
// when the CS dropped the leg's TLS). A CS that no transport reaches is ErrUnreachable; a
// refusal is the relay's *relay.RefusedError.
func (d RelayDialer) Dial(ctx context.Context, rel api.RelayAddr, rawTicket string) (net.Conn, string, error) {
	_, claims, err := ticket.Parse(rawTicket)
	if err != nil {
		return nil, "", fmt.Errorf("endpoint: read own ticket: %w", err)
	}
	conn, tr, err := d.connectAny(ctx, rel)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: %w", ErrUnreachable, rel.ID, err)
	}
	stream := conn
	if d.PlainLegs {
		stream, err = relay.HandshakePlain(ctx, conn, claims.Role, rawTicket)
	} else {
		err = relay.Handshake(ctx, conn, claims.Role, rawTicket)
	}
	if err != nil {
		_ = conn.Close()
		return nil, tr, fmt.Errorf("relay %s over %s: %w", rel.ID, tr, err)
	}
	if stream != conn {
		tr = TransportTCPPlain
	}
	return graceful(stream), tr, nil
}

// dialResult is one transport's attempt to reach a CS.
type dialResult struct {
	conn      net.Conn
	transport string
	err       error
}

// connectAny reaches rel over the first of its transports that connects, all within the
// connect timeout (a relay that hangs costs that much, once, whatever its transports). The
// next transport starts when the one before fails, or after fallbackDelay without an answer:
// a relay that accepts TCP but does not answer TLS (a hung process) and one whose TCP port a
// firewall drops both reach the HTTP fallback well within the timeout. The ticket is sent
// over the winner only; the others are closed.
func (d RelayDialer) connectAny(ctx context.Context, rel api.RelayAddr) (net.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(d.ConnectTimeout, DefaultConnectTimeout))
	defer cancel()
	trs := d.transports(rel)
	results := make(chan dialResult, len(trs))
	started := 0
	startNext := func() {
		if started < len(trs) {
			tr := trs[started]
			started++
			go func() {
				c, err := d.connect(ctx, tr, rel)
				results <- dialResult{c, tr, err}
			}()
		}
	}
	startNext()
	fallback := time.NewTimer(fallbackDelay)
	defer fallback.Stop()
	var errs []error
	for done := 0; done < started; {
		select {
		case <-fallback.C:
			startNext()
		case r := <-results:
			done++
			if r.err == nil {
				go closeLosers(results, started-done)
				return r.conn, r.transport, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", r.transport, r.err))
			startNext()
		}
	}
	return nil, "", errors.Join(errs...)
}

// closeLosers closes the connections of the n attempts still running when another won (the
// winner's return cancels them).
func closeLosers(results <-chan dialResult, n int) {
	for range n {
		if r := <-results; r.err == nil {
			_ = r.conn.Close()
		}
	}
}

// connect reaches the CS over one transport (ctx bounds it).
func (d RelayDialer) connect(ctx context.Context, transport string, rel api.RelayAddr) (net.Conn, error) {
	if transport == TransportTCP {
		return dialTLS(ctx, rel.Addr, d.TLS)
	}
	if rel.HTTPAddr == "" {
		return nil, errors.New("the relay offers no HTTP fallback")
	}
	// The tunnel's TLS verifies the certificate the CS shows on its TCP port, for the name
	// the Guest would dial there (the HTTP address may be a proxy's alias).
	conf := &tls.Config{}
	if d.TLS != nil {
		conf = d.TLS.Clone()
	}
	if conf.ServerName == "" {
		if host, _, err := net.SplitHostPort(rel.Addr); err == nil {
			conf.ServerName = host
		}
	}
	return relayhttp.Open(ctx, d.HTTP, rel.HTTPAddr, conf)
}

// dialTLS dials addr over TLS (as tls.Dialer does: the server name defaults to addr's host),
// on a TCP connection that can gather the records of one write (relay.GatherConn).
func dialTLS(ctx context.Context, addr string, conf *tls.Config) (net.Conn, error) {
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conf = cmp.Or(conf, &tls.Config{})
	if conf.ServerName == "" {
		conf = conf.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			conf.ServerName = host
		}
	}
	tc := tls.Client(relay.NewGatherConn(rawconn.Wrap(raw)), conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}

// Probe measures the round trip to each relay, in milliseconds, all at once: a TCP connect to
// its relay port, or when that fails a HEAD of its HTTP ping (through the proxy, if any). A
// relay nothing reaches gets unreachableMS.
func (d RelayDialer) Probe(ctx context.Context, relays []api.RelayAddr) map[string]int64 {
	out := make(map[string]int64, len(relays))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rel := range relays {
		wg.Go(func() {
			ms := d.probeOne(ctx, rel)
			mu.Lock()
			out[rel.ID] = ms
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// probeOne measures the round trip to one relay, in milliseconds.
func (d RelayDialer) probeOne(ctx context.Context, rel api.RelayAddr) int64 {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	if d.Preferred != TransportHTTP {
		var nd net.Dialer
		if c, err := nd.DialContext(ctx, "tcp", rel.Addr); err == nil {
			_ = c.Close()
			return max(time.Since(start).Milliseconds(), 1)
		}
	}
	if rel.HTTPAddr != "" {
		start = time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, rel.HTTPAddr+relayhttp.PathPing, nil)
		if err == nil {
			hc := d.HTTP
			if hc == nil {
				hc = relayhttp.NewHTTPClient()
			}
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					return max(time.Since(start).Milliseconds(), 1)
				}
			}
		}
	}
	return unreachableMS
}

// RetryElsewhere reports whether a failed Dial should make the Guest ask the CM for another
// relay: the relay was unreachable, the other half never came, or the relay could not take
// the session (overloaded, shutting down, or flooded from the Guest's own address). A refused
// ticket is not retried.
func RetryElsewhere(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, access.ErrPairTimeout) ||
		errors.Is(err, access.ErrOverloaded) || errors.Is(err, access.ErrShuttingDown) ||
		errors.Is(err, access.ErrSourceBusy)
}
