// Package cluster starts a whole Portcullis system on loopback from the real binary — a CM
// with the development identity provider and a SQLite store, Connection Servers and Hosts, each
// its own process — and drives it as users would. `portcullis demo` and the end-to-end tests
// use it. It never fakes a part: every role is the real command.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/identity/devidp"
)

// Timings of the cluster driver.
const (
	readyTimeout = 30 * time.Second
	readyPoll    = 50 * time.Millisecond
	stopTimeout  = 10 * time.Second
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
	// HeartbeatListener makes the CM accept signed heartbeats over plain HTTP on a free
	// loopback port; see Cluster.HeartbeatURL and HostSpec.SignedHeartbeats.
	HeartbeatListener bool
}

// Cluster is a running system. Stop it with Stop.
type Cluster struct {
	opts   Options
	cm     *Proc
	cmAddr string
	CMURL  string
	CAFile string
	// HeartbeatURL is the CM's plain signed-heartbeat listener; "" when there is none.
	HeartbeatURL string
	hbAddr       string
	pool         *x509.CertPool
	http         *http.Client

	mu    sync.Mutex
	procs []*Proc
}

// CM returns the Connection Manager's process.
func (c *Cluster) CM() *Proc { return c.cm }

// Proc is one process of the cluster.
type Proc struct {
	Name string
	// Addr is where a Connection Server listens.
	Addr string
	// HTTPAddr is a Connection Server's HTTP fallback base URL; MetricsAddr serves its /metrics.
	HTTPAddr, MetricsAddr string
	Cmd                   *exec.Cmd
	done                  chan struct{}
	err                   error
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Start writes keys and starts a CM; add relays and Hosts with StartRelay and StartHost.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Bin == "" || opts.Dir == "" {
		return nil, errors.New("cluster: Bin and Dir are required")
	}
	if opts.Store == "" {
		opts.Store = "sqlite:" + filepath.Join(opts.Dir, "portcullis.db")
	}
	c := &Cluster{opts: opts, CAFile: filepath.Join(opts.Dir, "certs", certs.CAFile)}
	if err := certs.Init(filepath.Join(opts.Dir, "certs"), certs.InitOptions{Algorithm: certs.AlgP384}); err != nil {
		return nil, fmt.Errorf("cluster: certs: %w", err)
	}
	pool, err := certs.LoadCertPool(c.CAFile)
	if err != nil {
		return nil, err
	}
	c.pool = pool
	c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 30 * time.Second}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.cmAddr = fmt.Sprintf("127.0.0.1:%d", port)
	c.CMURL = "https://" + c.cmAddr
	if opts.HeartbeatListener {
		hbPort, err := freePort()
		if err != nil {
			return nil, err
		}
		c.hbAddr = fmt.Sprintf("127.0.0.1:%d", hbPort)
		c.HeartbeatURL = "http://" + c.hbAddr
	}
	if err := c.startCM(ctx, "cm"); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// startCM starts the CM process, logging as name, and waits until it answers.
func (c *Cluster) startCM(ctx context.Context, name string) error {
	args := append([]string{"cm", "--listen", c.cmAddr, "--public-url", c.CMURL,
		"--certs-dir", filepath.Join(c.opts.Dir, "certs"), "--store", c.opts.Store, "--dev-idp"}, c.opts.CMArgs...)
	if c.hbAddr != "" {
		args = append(args, "--heartbeat-listen", c.hbAddr)
	}
	p, err := c.spawn(ctx, name, args...)
	if err != nil {
		return err
	}
	c.cm = p
	if err := c.waitFor(ctx, func() bool {
		return api.Call(ctx, c.http, http.MethodGet, c.CMURL+api.PathAuthConfig, "", nil, nil) == nil
	}); err != nil {
		return fmt.Errorf("cluster: CM did not come up: %w", err)
	}
	return nil
}

// KillCM ends the CM with SIGKILL, as a crash would: no shutdown, no flush.
func (c *Cluster) KillCM() { c.cm.Kill() }

// RestartCM starts the CM again on the same address, keys and store, logging as name, and
// waits until it answers. The development identity provider restarts with new keys: sign in
// again afterwards.
func (c *Cluster) RestartCM(ctx context.Context, name string) error {
	return c.startCM(ctx, name)
}

// StoreDSN is the CM's store.
func (c *Cluster) StoreDSN() string { return c.opts.Store }

// RelaySpec describes a Connection Server to start.
type RelaySpec struct {
	ID, Region string
	// Advertise is the address registered with the CM; default the address it listens on.
	Advertise string
	// BlockTCP advertises a closed port for the TCP transport, as if a firewall dropped
	// TCP/1970: only the HTTP fallback reaches the relay.
	BlockTCP bool
	// HTTPHost is the host name the HTTP fallback advertises (it listens on 127.0.0.1);
	// default 127.0.0.1. A name only a proxy resolves (squidtest.Alias) makes clients go
	// through the proxy named by HTTP_PROXY.
	HTTPHost string
	// EnrollToken makes the relay a tenant's private relay, enrolled with this relay token.
	EnrollToken string
	// Args are extra flags of the CS command (e.g. --pprof-listen).
	Args []string
}

// StartRelay starts a Connection Server; WaitRelays waits until the CM sees it.
func (c *Cluster) StartRelay(ctx context.Context, r RelaySpec) (*Proc, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	advertise := orDefault(r.Advertise, addr)
	if r.BlockTCP {
		advertise = fmt.Sprintf("127.0.0.1:%d", ports[3]) // nothing listens there
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	httpURL := "http://" + net.JoinHostPort(orDefault(r.HTTPHost, "127.0.0.1"), fmt.Sprint(ports[1]))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	args := []string{"cs", "--id", r.ID, "--listen", addr, "--advertise", advertise, "--cm-url", c.CMURL,
		"--certs-dir", filepath.Join(c.opts.Dir, "certs"), "--region", r.Region,
		"--http-listen", httpAddr, "--http-advertise", httpURL, "--metrics-listen", metricsAddr,
		"--state-dir", filepath.Join(c.opts.Dir, "relays", r.ID), "--drain-timeout", "5s"}
	if r.EnrollToken != "" {
		args = append(args, "--enroll-token", r.EnrollToken)
	}
	args = append(args, r.Args...)
	p, err := c.spawn(ctx, r.ID, args...)
	if err != nil {
		return nil, err
	}
	p.Addr, p.HTTPAddr, p.MetricsAddr = addr, httpURL, metricsAddr
	return p, nil
}

// RelayToken has admin create a relay enrollment token for a tenant's private relay.
func (c *Cluster) RelayToken(ctx context.Context, admin User, tenant string) (string, error) {
	var tok api.EnrollmentTokenResponse
	req := api.EnrollmentTokenRequest{Tenant: tenant, Kind: "relay"}
	if err := api.Call(ctx, admin.Client, http.MethodPost, c.CMURL+api.PathEnrollmentTokens, admin.IDToken, req, &tok); err != nil {
		return "", fmt.Errorf("cluster: relay enrollment token for %s: %w", tenant, err)
	}
	return tok.Token, nil
}

// User is a signed-in user: a config directory holding their cached tokens and key-bound
// credential, and an HTTP client that presents that credential.
type User struct {
	Email     string
	ConfigDir string
	IDToken   string
	// Client presents the user's client certificate to the CM; use it with IDToken.
	Client *http.Client
}

// Login signs a user in through the development identity provider with the device flow,
// answering the provider's login form over HTTP as the user would in a browser, caches the
// tokens where the CLI finds them, and obtains the user's key-bound credential.
func (c *Cluster) Login(ctx context.Context, email, password, otp string) (User, error) {
	var ac api.AuthConfig
	if err := api.Call(ctx, c.http, http.MethodGet, c.CMURL+api.PathAuthConfig, "", nil, &ac); err != nil {
		return User{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	approved := make(chan error, 1)
	login := identity.DeviceLogin{
		Config: identity.Config{Issuer: ac.Issuer, ClientID: ac.ClientID, Scopes: ac.Scopes, HTTPClient: c.http},
		Prompt: func(uri, code string) {
			go func() { approved <- devidp.SubmitDeviceLogin(ctx, c.http, uri, code, email, password, otp) }()
		},
	}
	tok, err := login.Run(ctx)
	if err != nil {
		select {
		case aerr := <-approved:
			return User{}, errors.Join(err, aerr)
		default:
			return User{}, err
		}
	}
	u := User{Email: email, ConfigDir: filepath.Join(c.opts.Dir, "users", email), IDToken: tok.IDToken}
	if err := (identity.TokenCache{Dir: u.ConfigDir}).Save(c.CMURL, tok); err != nil {
		return User{}, err
	}
	return c.withCredential(ctx, u)
}

// withCredential obtains u's key-bound credential and the client that presents it.
func (c *Cluster) withCredential(ctx context.Context, u User) (User, error) {
	cred, _, err := (guest.CredentialStore{Dir: u.ConfigDir}).Obtain(ctx, c.http, c.CMURL, u.IDToken)
	if err != nil {
		return User{}, err
	}
	u.Client = (&guest.Client{RootCAs: c.pool, Credential: cred}).HTTPClient()
	return u, nil
}

// Signed returns u's client and ID token as the CLI would use them now, after the CLI (for
// example `portcullis login`) changed the cached credentials in u.ConfigDir.
func (c *Cluster) Signed(u User) (User, error) {
	tok, err := (identity.TokenCache{Dir: u.ConfigDir}).Load(c.CMURL)
	if err != nil {
		return User{}, err
	}
	cred, _, err := (guest.CredentialStore{Dir: u.ConfigDir}).Load(c.CMURL)
	if err != nil {
		return User{}, err
	}
	u.IDToken = tok.IDToken
	u.Client = (&guest.Client{RootCAs: c.pool, Credential: cred}).HTTPClient()
	return u, nil
}

// HostSpec describes a Host to enrol and start.
type HostSpec struct {
	Name   string
	Tags   map[string]string
	Tenant string
	// Env is added to the Host process's environment.
	Env []string
	// Args are added to the Host's command line (e.g. its authorization schemes).
	Args []string
	// SignedHeartbeats sends the Host's heartbeats signed over plain HTTP to the CM's
	// HeartbeatURL (Options.HeartbeatListener must be set).
	SignedHeartbeats bool
}

// hostAccount is the account Hosts run sessions as when the cluster runs as root (an agent
// running as root must name one): the unprivileged "nobody".
const hostAccount = "nobody"

// StartHost has admin create an enrollment token for h, starts the Host agent with it, and
// waits until the CM sees the Host online.
func (c *Cluster) StartHost(ctx context.Context, admin User, h HostSpec) (*Proc, error) {
	var tok api.EnrollmentTokenResponse
	req := api.EnrollmentTokenRequest{Tags: h.Tags, Tenant: h.Tenant}
	if err := api.Call(ctx, admin.Client, http.MethodPost, c.CMURL+api.PathEnrollmentTokens, admin.IDToken, req, &tok); err != nil {
		return nil, fmt.Errorf("cluster: enrollment token for %s: %w", h.Name, err)
	}
	args := []string{"host", "--cm-url", c.CMURL, "--ca-file", c.CAFile,
		"--state-dir", filepath.Join(c.opts.Dir, "hosts", h.Name), "--enroll-token", tok.Token, "--name", h.Name}
	if os.Getuid() == 0 {
		args = append(args, "--run-as", hostAccount)
	}
	if h.SignedHeartbeats {
		args = append(args, "--heartbeat-url", c.HeartbeatURL)
	}
	p, err := c.spawnEnv(ctx, h.Name, h.Env, append(args, h.Args...)...)
	if err != nil {
		return nil, err
	}
	if err := c.WaitHost(ctx, admin, h.Name); err != nil {
		return nil, err
	}
	return p, nil
}

// WaitHost waits until the CM lists the Host as online.
func (c *Cluster) WaitHost(ctx context.Context, admin User, name string) error {
	err := c.waitFor(ctx, func() bool {
		var hosts []api.HostInfo
		if api.Call(ctx, admin.Client, http.MethodGet, c.CMURL+api.PathHosts, admin.IDToken, nil, &hosts) != nil {
			return false
		}
		for _, hi := range hosts {
			if hi.Name == name && hi.Online {
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("cluster: host %s did not come online: %w", name, err)
	}
	return nil
}

// WaitRelays waits until the CM lists every named relay as healthy.
func (c *Cluster) WaitRelays(ctx context.Context, admin User, ids ...string) error {
	return c.waitFor(ctx, func() bool {
		var relays []api.RelayInfo
		if api.Call(ctx, admin.Client, http.MethodGet, c.CMURL+api.PathRelays, admin.IDToken, nil, &relays) != nil {
			return false
		}
		seen := map[string]bool{}
		for _, r := range relays {
			seen[r.ID] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

// Guest returns the command line of a Guest command run as u, e.g. Guest(u, "exec", "db-1", "--", "true").
func (c *Cluster) Guest(ctx context.Context, u User, args ...string) *exec.Cmd {
	full := append([]string{args[0], "--cm", c.CMURL, "--ca-file", c.CAFile, "--config-dir", u.ConfigDir}, args[1:]...)
	return exec.CommandContext(ctx, c.opts.Bin, full...)
}

// Decision reads a decision record as u.
func (c *Cluster) Decision(ctx context.Context, u User, id string) (api.Decision, error) {
	var d api.Decision
	err := api.Call(ctx, u.Client, http.MethodGet, c.CMURL+api.PathDecisions+"/"+id, u.IDToken, nil, &d)
	return d, err
}

// CertsDir is where the cluster's keys and certificates are.
func (c *Cluster) CertsDir() string { return filepath.Join(c.opts.Dir, "certs") }

// HTTPClient returns a client that trusts the cluster's CA.
func (c *Cluster) HTTPClient() *http.Client { return c.http }

func (c *Cluster) spawn(ctx context.Context, name string, args ...string) (*Proc, error) {
	return c.spawnEnv(ctx, name, nil, args...)
}

func (c *Cluster) spawnEnv(_ context.Context, name string, env []string, args ...string) (*Proc, error) {
	logPath := filepath.Join(c.opts.Dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cmd := exec.Command(c.opts.Bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out io.Writer = logFile
	if c.opts.Logs != nil {
		out = io.MultiWriter(logFile, prefixWriter(c.opts.Logs, name))
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("cluster: start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// Kill ends a process at once (SIGKILL).
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks a process to end (SIGTERM) and kills it after stopTimeout.
func (p *Proc) stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.Kill()
	}
}

// Stop ends every process, the last started first.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
}

// LogOf returns a process's log so far.
func (c *Cluster) LogOf(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.opts.Dir, "logs", name+".log"))
	return string(b)
}

func (c *Cluster) waitFor(ctx context.Context, ok func() bool) error {
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

// freePorts returns n distinct free ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// prefixWriter prefixes every line written to w with the process name.
func prefixWriter(w io.Writer, name string) io.Writer {
	return &prefixed{w: w, prefix: fmt.Sprintf("%-8s| ", name)}
}

type prefixed struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	midway bool
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sb strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !p.midway {
			sb.WriteString(p.prefix)
		}
		sb.WriteString(line)
		p.midway = !strings.HasSuffix(line, "\n")
	}
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
