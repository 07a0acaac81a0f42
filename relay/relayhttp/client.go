package relayhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/rawconn"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/ticket"
)

// Client timings and concurrency.
const (
	// Senders is how many send requests a client keeps in flight, each with a run of up to span
	// chunks: together no more than the window.
	Senders = 2
	// Receivers is how many recv requests a client keeps in flight, each for the next span
	// chunks not asked for yet: while one answer streams, the next is already asked for.
	Receivers = 2
	// minIdleBackoff is the first pause after an empty poll; the pause doubles with each
	// further empty poll up to maxIdleBackoff.
	minIdleBackoff = 25 * time.Millisecond
	maxIdleBackoff = 2 * time.Second
	// retryBudget bounds how long a chunk is retried after transport failures.
	retryBudget = 20 * time.Second
	// minRetryBackoff is the first pause before retrying a chunk; the pause doubles with each
	// further failure up to maxRetryBackoff.
	minRetryBackoff = 10 * time.Millisecond
	maxRetryBackoff = time.Second
	// requestTimeout bounds one request; a recv's includes the CS's hold and its answer's run.
	requestTimeout = 60 * time.Second
	// closeFlush bounds how long Close waits for the fin to leave.
	closeFlush = 3 * time.Second
)

// NewHTTPClient returns the client the transport uses by default: plain HTTP through the
// proxy that HTTP_PROXY / http_proxy and NO_PROXY name.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         rawconn.DialContext(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}),
		MaxIdleConnsPerHost: Senders + Receivers + 2,
		IdleConnTimeout:     90 * time.Second,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}}
}

// Dial opens a tunnel to the CS at baseURL (e.g. "http://cs.example.com:80"), verifying the
// CS's certificate with conf, runs the relay handshake for rawTicket through it, and returns the
// paired session stream, like relay.Dial does over TLS. hc nil means NewHTTPClient.
func Dial(ctx context.Context, hc *http.Client, baseURL string, conf *tls.Config, rawTicket string) (net.Conn, error) {
	_, claims, err := ticket.Parse(rawTicket)
	if err != nil {
		return nil, fmt.Errorf("relayhttp: read own ticket: %w", err)
	}
	conn, err := Open(ctx, hc, baseURL, conf)
	if err != nil {
		return nil, err
	}
	if err := relay.Handshake(ctx, conn, claims.Role, rawTicket); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%w (connection server %s)", err, baseURL)
	}
	return conn, nil
}

// Open opens a tunnel, runs TLS through it (PinTLS(conf): the CS's certificate must verify
// with conf's roots for conf.ServerName, else baseURL's host name) and returns the TLS
// connection; it carries the relay handshake next. A proxy on the way sees only TLS records.
func Open(ctx context.Context, hc *http.Client, baseURL string, conf *tls.Config) (net.Conn, error) {
	if hc == nil {
		hc = NewHTTPClient()
	}
	base, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("relayhttp: relay URL %q is not an http URL", baseURL)
	}
	c := &clientConn{hc: hc, base: base.String()}
	status, resp, err := c.do(ctx, http.MethodPost, PathOpen, nil, []byte{WireVersion})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		if code := access.Code(bytes.TrimSpace(resp)); code.Known() {
			return nil, fmt.Errorf("relayhttp: open tunnel at %s: %w", baseURL, &relay.RefusedError{Code: string(code)})
		}
		return nil, fmt.Errorf("relayhttp: open tunnel at %s: HTTP %d: %s", baseURL, status, bytes.TrimSpace(resp))
	}
	if c.id, err = parseID(string(resp)); err != nil {
		return nil, fmt.Errorf("relayhttp: open tunnel at %s: %w", baseURL, err)
	}
	c.stream = newStream(&net.TCPAddr{}, tunnelAddr(base.Host), &c.bufs)
	c.stream.authed = true // the CS's chunks: the full window from the start
	c.start()
	conf = PinTLS(conf)
	if conf.ServerName == "" {
		conf.ServerName = base.Hostname()
	}
	tc := tls.Client(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("relayhttp: TLS with the relay at %s: %w", baseURL, err)
	}
	return tc, nil
}

// tunnelAddr is the remote address a client tunnel reports.
func tunnelAddr(host string) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", host); err == nil {
		return a
	}
	return &net.TCPAddr{}
}

// clientConn is the client end of a tunnel and the workers that move its chunks.
type clientConn struct {
	*stream
	hc   *http.Client
	base string
	id   string
	bufs framePool // the inbound chunks' (stream.frames)

	ctx       context.Context // ends when the tunnel stops
	cancel    context.CancelFunc
	stop      <-chan struct{} // ctx.Done()
	wg        sync.WaitGroup  // every worker
	sendersWG sync.WaitGroup  // the senders
	cutting   sync.Mutex      // held by the sender whose request takes the chunks being cut
}

func (c *clientConn) start() {
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.stop = c.ctx.Done()
	c.sendersWG.Add(Senders)
	for range Senders {
		c.wg.Go(func() { defer c.sendersWG.Done(); c.sender() })
	}
	for i := range Receivers {
		c.wg.Go(func() { c.receiver(uint64(i)) })
	}
}

// Close sends what is queued and fin (waiting up to closeFlush), then stops the workers.
func (c *clientConn) Close() error {
	_ = c.stream.CloseWrite()
	flushed := make(chan struct{})
	go func() { c.sendersWG.Wait(); close(flushed) }()
	select {
	case <-flushed:
	case <-time.After(closeFlush):
	}
	c.cancel()
	_ = c.stream.Close()
	c.wg.Wait()
	return nil
}

// post sends one run of chunks from seq on; done is true when the CS took them all.
func (c *clientConn) post(seq uint64, body []byte) (bool, error) {
	status, resp, err := c.do(c.ctx, http.MethodPost, PathSend, c.query(seq, 0, nil), body)
	switch {
	case err != nil, status == http.StatusConflict, status >= 500:
		return false, nil // transient: retry
	case status == http.StatusNoContent:
		return true, nil
	}
	return false, fmt.Errorf("%w: send chunk %d: HTTP %d: %s", errReset, seq, status, bytes.TrimSpace(resp))
}

// errNoAnswer is a try that the relay did not answer (a transport failure, a 5xx, a 409): it
// is worth repeating.
var errNoAnswer = errors.New("relayhttp: no answer from the relay")

// retry runs try until it is done, fails, the tunnel stops (net.ErrClosed), or retryBudget
// passes; the pauses between tries double from minRetryBackoff up to maxRetryBackoff.
func (c *clientConn) retry(try func() (bool, error)) error {
	_, err := backoff.Retry(c.ctx, func() (struct{}, error) {
		done, err := try()
		switch {
		case err != nil:
			return struct{}{}, backoff.Permanent(err)
		case !done:
			return struct{}{}, errNoAnswer
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(doubling(minRetryBackoff, maxRetryBackoff)), backoff.WithMaxElapsedTime(retryBudget))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoAnswer):
		return fmt.Errorf("%w: the relay did not answer for %s", errReset, retryBudget)
	case c.ctx.Err() != nil && errors.Is(err, c.ctx.Err()):
		return net.ErrClosed
	}
	return err
}

// doubling returns pauses that start at first and double up to limit, without jitter.
func doubling(first, limit time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: first, Multiplier: 2, MaxInterval: limit}
}

// pause waits d; false when the tunnel stopped.
func (c *clientConn) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// query names the tunnel, the first chunk seq and, for a recv, the count n and the
// acknowledgement.
func (c *clientConn) query(seq, n uint64, ack *uint64) url.Values {
	q := url.Values{"s": {c.id}, "q": {strconv.FormatUint(seq, 10)}}
	if ack != nil {
		q.Set("n", strconv.FormatUint(n, 10))
		q.Set("a", strconv.FormatUint(*ack, 10))
	}
	return q
}

// do makes one request within requestTimeout and reads the whole (bounded) answer.
func (c *clientConn) do(ctx context.Context, method, path string, q url.Values, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, err := c.request(ctx, method, path, q, rd)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChunk+1))
	if err != nil {
		return 0, nil, fmt.Errorf("relayhttp: %s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, data, nil
}

// request makes one request and returns the answer, whose body the caller closes. A body that
// is not a *bytes.Reader streams (chunked transfer coding).
func (c *clientConn) request(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := c.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("relayhttp: request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
		// Every request is safe to repeat (a send names its chunks, an open that reached the CS
		// twice leaves a tunnel that is swept): the key lets Go send it again on a fresh
		// connection when a proxy closed the kept-alive one without saying so (tinyproxy does).
		req.Header.Set("Idempotency-Key", path+"?"+q.Encode())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("relayhttp: %s %s: %w", method, path, err)
	}
	return resp, nil
}
