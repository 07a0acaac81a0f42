package localstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
)

// Timings of the stack's driver.
const (
	// readyTimeout bounds every wait for a part to come up (and one sign-in).
	readyTimeout = 30 * time.Second
	// readyPoll is the pause between two looks at a part that is not up yet.
	readyPoll = 50 * time.Millisecond
	// stopTimeout is how long a process may take to end after SIGTERM before it is killed.
	stopTimeout = 10 * time.Second
	// clientTimeout bounds one request of the stack's own HTTP client.
	clientTimeout = 30 * time.Second
)

// Options configures Start.
type Options struct {
	// Bin is the portcullis binary; required.
	Bin string
	// Dir is the working directory for keys, state and logs; required.
	Dir string
	// Store is the CM's store DSN; default a SQLite file in Dir.
	Store string
	// Logs receives every process's output; nil means the log files in Dir only.
	Logs io.Writer
	// CMArgs are extra flags of the CM, e.g. its policy settings or "--host-cert-ttl", "30s".
	CMArgs []string
	// LogFormat is every daemon's --log-format ("text" or "json"); "" is the daemons' default.
	LogFormat string
	// HeartbeatListener makes the CM accept signed heartbeats over plain HTTP on a loopback
	// port; see Stack.HeartbeatURL and HostSpec.SignedHeartbeats.
	HeartbeatListener bool
	// Replicas > 1 runs that many CM replicas, cm-1 … cm-N, behind a load balancer (HAProxy)
	// whose address is CMURL, with the identity provider as a process of its own (see
	// replicas.go); Store must then be one they can share (PostgreSQL). 0 or 1 runs one CM.
	Replicas int
	// HAProxy is the HAProxy binary of the load balancer; default haproxy on PATH or in
	// /usr/sbin.
	HAProxy string
}

// Stack is a running system. Stop it with Stop.
type Stack struct {
	opts Options
	cm   *Proc
	// cmSock and hbSock are the CM's HTTPS and plain heartbeat sockets (hbSock nil when there
	// is none), held until Stop so that every CM process of the stack serves on them.
	cmSock, hbSock *socket
	// CMURL is the CM's HTTPS base URL.
	CMURL string
	// CAFile is the CA certificate that signed the CM's and the relays' TLS certificates.
	CAFile string
	// HeartbeatURL is the CM's plain signed-heartbeat listener; "" when there is none.
	HeartbeatURL string
	pool         *x509.CertPool
	http         *http.Client
	// replicas are the CM replicas, in order (none for a single CM); issuer is the identity
	// provider they trust, lbSock the load balancer's runtime API socket.
	replicas []*replica
	issuer   string
	lbSock   string

	mu    sync.Mutex
	procs []*Proc
}

// Start writes keys and starts a CM; add relays and Hosts with StartRelay and StartHost.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Bin == "" || opts.Dir == "" {
		return nil, errors.New("localstack: Bin and Dir are required")
	}
	if opts.Store == "" {
		opts.Store = "sqlite:" + filepath.Join(opts.Dir, "portcullis.db")
	}
	s := &Stack{opts: opts, CAFile: filepath.Join(opts.Dir, "certs", certs.CAFile)}
	if err := certs.Init(s.CertsDir(), certs.InitOptions{Algorithm: certs.AlgP384}); err != nil {
		return nil, fmt.Errorf("localstack: certs: %w", err)
	}
	pool, err := certs.LoadCertPool(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	s.pool = pool
	s.http = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		Timeout:   clientTimeout,
	}
	if opts.Replicas > 1 {
		if err := s.startReplicated(ctx); err != nil {
			s.Stop()
			return nil, err
		}
		return s, nil
	}
	if s.cmSock, err = listenLoopback(); err != nil {
		return nil, err
	}
	s.CMURL = "https://" + s.cmSock.addr
	if opts.HeartbeatListener {
		if s.hbSock, err = listenLoopback(); err != nil {
			s.Stop()
			return nil, err
		}
		s.HeartbeatURL = "http://" + s.hbSock.addr
	}
	if err := s.startCM(ctx, "cm"); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// startCM starts a CM process on the stack's sockets, logging as name, and waits until it
// answers.
func (s *Stack) startCM(ctx context.Context, name string) error {
	l := &launch{name: name, args: []string{"cm", "--public-url", s.CMURL,
		"--certs-dir", s.CertsDir(), "--store", s.opts.Store, "--dev-idp"}}
	if err := l.listenOn("--listen", s.cmSock); err != nil {
		return err
	}
	if s.hbSock != nil {
		if err := l.listenOn("--heartbeat-listen", s.hbSock); err != nil {
			return err
		}
	}
	l.args = append(l.args, s.opts.CMArgs...)
	p, err := s.spawn(ctx, l)
	if err != nil {
		return err
	}
	s.cm = p
	if err := s.waitFor(ctx, func() bool {
		return api.Call(ctx, s.http, http.MethodGet, s.CMURL+api.PathAuthConfig, "", nil, nil) == nil
	}); err != nil {
		return fmt.Errorf("localstack: CM did not come up: %w", err)
	}
	return nil
}

// CM returns the Connection Manager's process (with replicas, cm-1's first process).
func (s *Stack) CM() *Proc { return s.cm }

// KillCM ends the CM with SIGKILL, as a crash would: no shutdown, no flush. Connections made
// while it is down wait in its socket's queue until RestartCM. With replicas, use
// KillReplica.
func (s *Stack) KillCM() { s.cm.Kill() }

// RestartCM starts the CM again on the same address, keys and store, logging as name, and
// waits until it answers. The development identity provider keeps its signing key (in the certs
// directory), so sign-ins made before stay valid. With replicas, use RestartReplica.
func (s *Stack) RestartCM(ctx context.Context, name string) error {
	if s.replicated() {
		return errors.New("localstack: RestartCM with CM replicas; use RestartReplica")
	}
	return s.startCM(ctx, name)
}

// StoreDSN is the CM's store.
func (s *Stack) StoreDSN() string { return s.opts.Store }

// CertsDir is where the stack's keys and certificates are.
func (s *Stack) CertsDir() string { return filepath.Join(s.opts.Dir, "certs") }

// HTTPClient returns a client that trusts the stack's CA.
func (s *Stack) HTTPClient() *http.Client { return s.http }

// Stop ends every process, the last started first, and closes the CM's sockets.
func (s *Stack) Stop() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
	for _, sock := range []*socket{s.cmSock, s.hbSock} {
		if sock != nil {
			sock.close()
		}
	}
}

// Proc returns the last started process named name (a relay's or Host's id or name, "cm",
// "cm-1", "idp", "haproxy"), or nil.
func (s *Stack) Proc(name string) *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		if s.procs[i].Name == name {
			return s.procs[i]
		}
	}
	return nil
}

// LogOf returns a process's log so far.
func (s *Stack) LogOf(name string) string {
	b, _ := os.ReadFile(s.logPath(name))
	return string(b)
}

// logPath is the file that receives the output of the process named name.
func (s *Stack) logPath(name string) string {
	return filepath.Join(s.opts.Dir, "logs", name+".log")
}

// waitFor polls ok until it holds, ctx ends or readyTimeout passes.
func (s *Stack) waitFor(ctx context.Context, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
	}
	return nil
}
