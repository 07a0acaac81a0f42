package cmlink_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/relay/cmlink"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/ticket"
)

// Settings of the CM under test.
const (
	// relayInterval is the report interval the CM asks of relays (whole seconds on the wire).
	relayInterval = time.Second
	// longPoll is how long the CM holds a relay's command long-poll.
	longPoll = 300 * time.Millisecond
	// adminToken is the ID token the CM's authenticator takes for dave, the administrator: a
	// compact JWS in form ("dave", "id", "token" in base64url), as the CM's one-time rule
	// reads every token it exchanges.
	adminToken = "ZGF2ZQ.aWQ.dG9rZW4"
)

// cm is a real Connection Manager under test: gateway.Server over TLS with a SQLite store and
// the default policy. Only the ID token verifier is a stand-in (it knows one token, dave's).
// It listens once start is called, at the URL known before.
type cm struct {
	url     string
	addr    string
	store   *store.DB
	keys    *ticket.KeySet
	pool    *x509.CertPool
	certDir string
	srv     *httptest.Server
	admin   *http.Client
}

// daveOnly verifies dave's token and refuses every other one.
type daveOnly struct{}

func (daveOnly) Verify(_ context.Context, raw string) (identity.Claims, error) {
	if raw != adminToken {
		return identity.Claims{}, access.ErrBadSignature
	}
	return identity.Claims{
		Subject: "dave@example.com", Sub: "dave", Email: "dave@example.com",
		Groups: []string{"portcullis-admins"}, AMR: []string{"pwd"}, Expiry: time.Now().Add(time.Hour),
	}, nil
}

// newCM builds a CM that is not listening yet; its URL is reserved.
func newCM(t *testing.T) *cm {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	c := &cm{certDir: filepath.Join(dir, "certs")}
	if err := certs.Init(c.certDir, certs.InitOptions{Algorithm: certs.AlgP384}); err != nil {
		t.Fatal(err)
	}
	keys, err := gateway.LoadKeys(c.certDir)
	if err != nil {
		t.Fatal(err)
	}
	c.pool = keys.Pool
	if c.store, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "cm.db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.store.Close() })
	engine, err := policy.New(ctx, policy.WithFS(rego.Files()))
	if err != nil {
		t.Fatal(err)
	}
	c.keys = keys.TicketKeys
	cfg := gateway.Config{
		Store: c.store, Policy: engine, Auth: daveOnly{},
		RelayInterval: relayInterval, LongPoll: longPoll, Logger: slog.New(slog.DiscardHandler),
	}
	keys.Configure(&cfg)
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.srv = httptest.NewUnstartedServer(gw.Handler())
	c.srv.TLS = keys.TLS
	c.addr = freeAddr(t)
	c.url = "https://" + c.addr
	t.Cleanup(c.srv.Close)
	return c
}

// startCM starts a CM and signs dave in.
func startCM(t *testing.T) *cm {
	t.Helper()
	c := newCM(t)
	c.start(t)
	return c
}

// start makes the CM listen at its URL and signs dave in.
func (c *cm) start(t *testing.T) {
	t.Helper()
	if err := c.listen(); err != nil {
		t.Fatal(err)
	}
	c.admin = c.signIn(t)
}

// listen makes the CM listen at its URL.
func (c *cm) listen() error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("the CM's reserved address: %w", err)
	}
	_ = c.srv.Listener.Close()
	c.srv.Listener = ln
	c.srv.StartTLS()
	return nil
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// client returns an HTTP client that trusts the CM's CA and presents certs.
func (c *cm) client(certs ...tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool, Certificates: certs, MinVersion: tls.VersionTLS12}}}
}

// vendorClient is vendor relay id's client: it presents the relay's own certificate, as
// `portcullis cs` does.
func (c *cm) vendorClient(t *testing.T, id string) *http.Client {
	t.Helper()
	return c.client(c.vendorIdentity(t, id).Cert)
}

// vendorIdentity issues vendor relay id its own certificate into the CM's certs directory, as
// `portcullis certs relay --id <id>` does (once per id), and loads it as `portcullis cs` does.
func (c *cm) vendorIdentity(t *testing.T, id string) cmlink.Identity {
	t.Helper()
	if err := certs.IssueRelay(c.certDir, id, certs.RelayOptions{}); err != nil && !errors.Is(err, certs.ErrExists) {
		t.Fatal(err)
	}
	ident, err := cmlink.LoadIdentity(t.Context(), cmlink.IdentityConfig{RelayID: id,
		CertFile: filepath.Join(c.certDir, certs.RelayCertFile(id)), KeyFile: filepath.Join(c.certDir, certs.RelayKeyFile(id))})
	if err != nil || ident.Enrolled {
		t.Fatalf("vendor relay %s's identity: %+v, %v", id, ident, err)
	}
	return ident
}

// sharedCertClient presents a certificate like the relays' old shared one: CN
// "portcullis-relay", valid for client authentication.
func (c *cm) sharedCertClient(t *testing.T) *http.Client {
	t.Helper()
	ca, err := certs.LoadCA(filepath.Join(c.certDir, certs.CAFile), filepath.Join(c.certDir, certs.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueClientCert(pub, certs.CSCommonName, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c.client(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
}

// signIn exchanges dave's ID token for his key-bound client certificate.
func (c *cm) signIn(t *testing.T) *http.Client {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var resp api.CredentialResponse
	err = api.Call(context.Background(), c.client(), http.MethodPost, c.url+api.PathCredential, adminToken,
		api.CredentialRequest{PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, &resp)
	if err != nil {
		t.Fatalf("dave's credential: %v", err)
	}
	block, _ := pem.Decode([]byte(resp.Certificate))
	if block == nil {
		t.Fatal("dave's credential holds no certificate")
	}
	return c.client(tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key})
}

// asAdmin makes one admin API call as dave.
func (c *cm) asAdmin(method, path string, in, out any) error {
	return api.Call(context.Background(), c.admin, method, c.url+path, adminToken, in, out)
}

// relayToken has dave create a relay enrollment token for tenant.
func (c *cm) relayToken(t *testing.T, tenant string) string {
	t.Helper()
	var tok api.EnrollmentTokenResponse
	if err := c.asAdmin(http.MethodPost, api.PathEnrollmentTokens, api.EnrollmentTokenRequest{Tenant: tenant, Kind: "relay"}, &tok); err != nil {
		t.Fatalf("relay enrollment token: %v", err)
	}
	return tok.Token
}

// assignSession records a live session assigned to relayID, as the CM's connect does.
func (c *cm) assignSession(t *testing.T, id, relayID string) {
	t.Helper()
	err := c.store.CreateSession(context.Background(), store.Session{
		ID: id, DecisionID: "dec_" + id, Subject: "alice@example.com", HostID: "h_" + id, HostName: "db-1",
		RelayID: relayID, Encryption: access.DefaultLevel, Channels: []string{"exec"}, StartedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// relayRecord returns the CM's record of relay id.
func (c *cm) relayRecord(t *testing.T, id string) store.Relay {
	t.Helper()
	all, err := c.store.ListRelays(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(r store.Relay) bool { return r.ID == id })
	if i < 0 {
		t.Fatalf("the CM has no record of relay %s", id)
	}
	return all[i]
}

// link returns a link of relay id to the CM, speaking with hc.
func (c *cm) link(id string, hc *http.Client) *cmlink.Link {
	return &cmlink.Link{
		CMURL: c.url, Client: hc, KeyRetry: 20 * time.Millisecond,
		Registration: api.RelayRegistration{ID: id, Addr: "127.0.0.1:1970", Region: "eu-north", Owner: "vendor", MaxSessions: 100},
	}
}

// at points l at another CM url.
func at(l *cmlink.Link, url string) *cmlink.Link {
	l.CMURL = url
	return l
}

// fakeRelay is the relay a link speaks for: a fixed load, and a record of the sessions the
// CM ordered to end.
type fakeRelay struct {
	mu      sync.Mutex
	stats   relay.Stats
	held    []string
	ended   map[string]string // session id → reason
	endedCh chan string
}

func newFakeRelay(held ...string) *fakeRelay {
	return &fakeRelay{held: held, ended: map[string]string{}, endedCh: make(chan string, 16)}
}

func (f *fakeRelay) Stats() relay.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeRelay) setStats(st relay.Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = st
}

func (f *fakeRelay) SessionIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.held)
}

func (f *fakeRelay) EndSession(id, reason string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.held, id)
	if i < 0 {
		return false
	}
	f.held = slices.Delete(f.held, i, i+1)
	f.ended[id] = reason
	f.endedCh <- id
	return true
}

// answering is a stand-in CM for the one failure the real CM cannot produce: it answers every
// request 200 with body.
func answering(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// wantCode fails the test unless err carries code (nil code: err is any error).
func wantCode(t *testing.T, err error, code access.Code, says string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("no error")
	case code != "" && !errors.Is(err, code):
		t.Fatalf("error %v does not carry %q", err, code)
	case !strings.Contains(err.Error(), says):
		t.Fatalf("error %q does not say %q", err, says)
	}
}
