package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
)

// Load shapes.
const (
	// connectHosts is how many simulated Hosts the connect load spreads over; each drains its
	// long-poll continuously, so the CM's per-Host queue never fills.
	connectHosts = 16
	// connectWorkers is the closed-loop connect load's concurrency.
	connectWorkers = 32
	// connectWorkersPeak is the concurrency of the decisions section's second closed loop, the
	// CM's capacity: enough Guests that both cores stay busy while commits wait for their sync
	// (group commit then carries more connects per transaction).
	connectWorkersPeak = 128
	// heartbeatHosts is how many simulated Hosts send heartbeats, each on its own mTLS
	// connection.
	heartbeatHosts = 256
	// heartbeatWorkers is the heartbeat load's concurrency.
	heartbeatWorkers = 64
	// maxInFlight bounds the open-loop load's outstanding requests; beyond it a request counts
	// as failed (the CM is not keeping up).
	maxInFlight = 2048
	// enrollWorkers enrol simulated Hosts concurrently.
	enrollWorkers = 8
	// requestTimeout bounds every load request.
	requestTimeout = 30 * time.Second
	// simHeartbeat is how often a draining simulated Host heartbeats (the agent's default).
	simHeartbeat = 10 * time.Second
)

// simHost is an enrolled Host the suite plays itself: its mTLS client speaks to the CM as the
// Host agent does, without running SSH.
type simHost struct {
	name   string
	client *http.Client
	// tls is the Host's client TLS configuration (its certificate), for connections the suite
	// drives itself (pipelined heartbeats).
	tls *tls.Config
}

// enrollSimHosts has the administrator create enrollment tokens and enrols n Hosts named
// prefix-0 … prefix-(n-1), tagged like the bench Host, each with its own key and certificate.
func enrollSimHosts(ctx context.Context, st *stack, prefix string, n int) ([]*simHost, error) {
	pool, err := certs.LoadCertPool(st.c.CAFile)
	if err != nil {
		return nil, err
	}
	hosts := make([]*simHost, n)
	err = parallel(n, enrollWorkers, func(i int) error {
		h, err := enrollSimHost(ctx, st, pool, fmt.Sprintf("%s-%d", prefix, i))
		hosts[i] = h
		return err
	})
	return hosts, err
}

func enrollSimHost(ctx context.Context, st *stack, pool *x509.CertPool, name string) (*simHost, error) {
	hc := st.c.HTTPClient()
	var tok api.EnrollmentTokenResponse
	req := api.EnrollmentTokenRequest{Tags: hostTags, Tenant: "acme"}
	if err := api.Call(ctx, st.admin.Client, http.MethodPost, st.c.CMURL+api.PathEnrollmentTokens, st.admin.IDToken, req, &tok); err != nil {
		return nil, fmt.Errorf("enrollment token for %s: %w", name, err)
	}
	key, authorized, err := newKey()
	if err != nil {
		return nil, err
	}
	var resp api.EnrollResponse
	enroll := api.EnrollRequest{Token: tok.Token, Name: name, OS: "linux", PublicKey: authorized}
	if err := api.Call(ctx, hc, http.MethodPost, st.c.CMURL+api.PathEnroll, "", enroll, &resp); err != nil {
		return nil, fmt.Errorf("enrol %s: %w", name, err)
	}
	block, _ := pem.Decode([]byte(resp.Certificate))
	if block == nil {
		return nil, fmt.Errorf("enrol %s: no certificate in the answer", name)
	}
	cert := tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), MaxIdleConnsPerHost: 4}
	return &simHost{name: name, client: &http.Client{Transport: tr, Timeout: requestTimeout}, tls: cfg}, nil
}

// newKey returns a fresh Ed25519 key and its public half as an authorized_keys line.
func newKey() (ed25519.PrivateKey, string, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	return key, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

// drain long-polls the CM for h's connection requests and drops them, and heartbeats as the
// Host agent does, until ctx ends. It counts the requests it received in got.
func (h *simHost) drain(ctx context.Context, cmURL string, got *atomic.Int64) {
	go func() {
		t := time.NewTicker(simHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = h.heartbeat(ctx, cmURL) // a missed beat shows as host_offline on connects
			}
		}
	}()
	for ctx.Err() == nil {
		var reqs api.HostRequests
		if err := api.Call(ctx, h.client, http.MethodGet, cmURL+api.PathHostRequests, "", nil, &reqs); err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		got.Add(int64(len(reqs.Requests)))
	}
}

// heartbeat sends one heartbeat as h, with its latency to the bench relay as the agent reports
// once it has probed, and reads the CM's answer.
func (h *simHost) heartbeat(ctx context.Context, cmURL string) error {
	var resp api.HeartbeatResponse
	hb := api.Heartbeat{RelayLatencies: map[string]int64{relayID: 1}}
	return api.Call(ctx, h.client, http.MethodPost, cmURL+api.PathHeartbeat, "", hb, &resp)
}

// connector posts connect requests as the signed-in user, spread over the simulated Hosts.
type connector struct {
	url    string
	token  string
	client *http.Client
	bodies []api.ConnectRequest
	next   atomic.Uint64
}

// newConnector posts to the stack's CM URL; newConnectorAt to cmURL (e.g. one replica's).
func newConnector(st *stack, hosts []*simHost, workers int) (*connector, error) {
	return newConnectorAt(st, st.c.CMURL, hosts, workers)
}

func newConnectorAt(st *stack, cmURL string, hosts []*simHost, workers int) (*connector, error) {
	_, key, err := newKey()
	if err != nil {
		return nil, err
	}
	c := &connector{url: cmURL + api.PathConnect, token: st.user.IDToken}
	base, ok := st.user.Client.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("the signed-in user's client has a %T, not an *http.Transport", st.user.Client.Transport)
	}
	tr := base.Clone() // it presents the user's key-bound credential
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = workers, workers
	c.client = &http.Client{Transport: tr, Timeout: requestTimeout}
	for _, h := range hosts {
		c.bodies = append(c.bodies, api.ConnectRequest{Host: h.name, Channels: []string{"exec"}, Encryption: access.LevelVeryHigh, PublicKey: key})
	}
	return c, nil
}

// withNewConnections is c opening a new mTLS connection, with a full handshake, for every
// connect, as a Guest CLI process does: it keeps no connection and no TLS session from one
// connect to the next.
func (c *connector) withNewConnections() (*connector, error) {
	base, ok := c.client.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("the connector's client has a %T, not an *http.Transport", c.client.Transport)
	}
	tr := base.Clone()
	tr.DisableKeepAlives, tr.TLSClientConfig.ClientSessionCache = true, nil
	return &connector{url: c.url, token: c.token, client: &http.Client{Transport: tr, Timeout: requestTimeout}, bodies: c.bodies}, nil
}

// connect posts one connect request; only a grant (200) counts as success.
func (c *connector) connect(ctx context.Context) error {
	body := c.bodies[int(c.next.Add(1))%len(c.bodies)]
	return api.Call(ctx, c.client, http.MethodPost, c.url, c.token, body, nil)
}

// loadResult is what one load phase measured.
type loadResult struct {
	ok, failed int64
	elapsed    time.Duration
	latencies  []time.Duration
	firstErr   error
}

func (l *loadResult) rate() float64 { return float64(l.ok) / l.elapsed.Seconds() }

// recorder collects latencies and errors from concurrent requests.
type recorder struct {
	mu  sync.Mutex
	res loadResult
}

func (r *recorder) record(lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.res.failed++
		if r.res.firstErr == nil {
			r.res.firstErr = err
		}
		return
	}
	r.res.ok++
	r.res.latencies = append(r.res.latencies, lat)
}

// closedLoop runs workers that each issue op back to back for d.
func closedLoop(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker int) error) loadResult {
	var rec recorder
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t := time.Now()
				err := op(ctx, w)
				if ctx.Err() != nil {
					return // cut by the end of the phase: neither a success nor a failure
				}
				rec.record(time.Since(t), err)
			}
		})
	}
	wg.Wait()
	rec.res.elapsed = time.Since(start)
	return rec.res
}

// openLoop issues op at a fixed rate for d, each on its own goroutine, and measures latency from
// the moment the request was due (so a stall is not hidden by requests that were never sent).
func openLoop(ctx context.Context, rate int, d time.Duration, op func(ctx context.Context) error) loadResult {
	var rec recorder
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	sem := make(chan struct{}, maxInFlight)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case sem <- struct{}{}:
		default:
			rec.record(0, errors.New("more than maxInFlight requests outstanding"))
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			err := op(rctx)
			rec.record(time.Since(due), err)
		})
	}
	wg.Wait()
	rec.res.elapsed = time.Since(start)
	return rec.res
}

// parallel runs f(0..n-1) on up to workers goroutines and returns every error.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		errs []error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// connectLoad is a closed-loop connect load ready to run: simulated Hosts draining their
// long-polls, and the connector.
type connectLoad struct {
	connect func(ctx context.Context, worker int) error
	// connectNew is connect on a new connection each time (withNewConnections).
	connectNew func(ctx context.Context, worker int) error
	delivered  *atomic.Int64
	stop       context.CancelFunc
}

// startConnectLoad enrols connectHosts simulated Hosts named prefix-N that heartbeat and poll
// hostURL, and returns the connect operation, asking guestURL on up to workers connections,
// warmed up for a second with that many Guests. Call stop when done.
func startConnectLoad(ctx context.Context, st *stack, prefix, hostURL, guestURL string, workers int) (*connectLoad, error) {
	hosts, err := enrollSimHosts(ctx, st, prefix, connectHosts)
	if err != nil {
		return nil, err
	}
	dctx, stop := context.WithCancel(ctx)
	l := &connectLoad{delivered: &atomic.Int64{}, stop: stop}
	for _, h := range hosts {
		if err := h.heartbeat(ctx, hostURL); err != nil {
			stop()
			return nil, fmt.Errorf("heartbeat of %s: %w", h.name, err)
		}
		go h.drain(dctx, hostURL, l.delivered)
	}
	c, err := newConnectorAt(st, guestURL, hosts, workers)
	if err != nil {
		stop()
		return nil, err
	}
	fresh, err := c.withNewConnections()
	if err != nil {
		stop()
		return nil, err
	}
	l.connect = func(ctx context.Context, _ int) error { return c.connect(ctx) }
	l.connectNew = func(ctx context.Context, _ int) error { return fresh.connect(ctx) }
	closedLoop(ctx, workers, time.Second, l.connect) // warm-up: connections, caches, pages
	return l, nil
}
