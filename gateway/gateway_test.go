package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/identity/devidp"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/ticket"
)

// cm is a Connection Manager under test, served over real TLS with its real dependencies:
// a SQLite store, the default policy, and the development identity provider.
type cm struct {
	url     string
	store   *store.DB
	keys    *ticket.KeySet
	sshCA   ssh.PublicKey
	ca      *certs.CA
	pool    *x509.CertPool
	http    *http.Client
	users   map[string]user // email/otp -> signed-in user
	now     time.Time
	idp     *devidp.Provider
	issuer  string
	certDir string
	gateway *gateway.Server
	// later moves the CM's clock past now (nanoseconds), e.g. beyond a cache's lifetime.
	later atomic.Int64
}

// user is a signed-in Guest: the ID token and an HTTP client presenting the client
// certificate the CM issued for the user's own key.
type user struct {
	email  string
	token  string
	client *http.Client
	key    ed25519.PrivateKey
	cert   api.CredentialResponse
}

// tuesday10 is a Tuesday at 10:00 in Copenhagen: inside the contractors' window.
var tuesday10 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// cmSetup is what startCM's options change: the store DSN, the policy source and the ID
// token verifier's configuration.
type cmSetup struct {
	dsn       string
	policy    policy.Source
	verifier  func(*identity.Config)
	configure []func(*gateway.Config)
	// of is the replica whose keys and identity provider this one shares; nil for none.
	of *cm
}

// replicaOf makes the CM another replica of c: the same keys and certificates, and c's
// identity provider (give it c's store with withStore).
func replicaOf(c *cm) cmOption { return func(s *cmSetup) { s.of = c } }

// cmOption changes the CM startCM starts.
type cmOption func(*cmSetup)

// withStore uses this store DSN instead of a new SQLite file.
func withStore(dsn string) cmOption { return func(s *cmSetup) { s.dsn = dsn } }

// withPolicy decides with src instead of the default policy.
func withPolicy(src policy.Source) cmOption { return func(s *cmSetup) { s.policy = src } }

// withConfig changes the CM's configuration before it starts.
func withConfig(f func(*gateway.Config)) cmOption {
	return func(s *cmSetup) { s.configure = append(s.configure, f) }
}

// withVerifier lets edit change the configuration of the CM's ID token verifier.
func withVerifier(edit func(*identity.Config)) cmOption {
	return func(s *cmSetup) { s.verifier = edit }
}

func startCM(t testing.TB, opts ...cmOption) *cm {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	setup := cmSetup{dsn: "sqlite:" + filepath.Join(dir, "cm.db")}
	for _, o := range opts {
		o(&setup)
	}
	certDir := filepath.Join(dir, "certs")
	if setup.of != nil {
		certDir = setup.of.certDir
	} else if err := certs.Init(certDir, certs.InitOptions{Algorithm: certs.AlgP384}); err != nil {
		t.Fatal(err)
	}
	keys, err := gateway.LoadKeys(certDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, setup.dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if setup.policy == nil {
		engine, err := policy.New(ctx, policy.WithFS(rego.Files()))
		if err != nil {
			t.Fatal(err)
		}
		setup.policy = engine
	}

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = keys.TLS
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := &cm{url: srv.URL, store: st, ca: keys.CA, pool: keys.Pool, sshCA: keys.SSHUserCA.PublicKey(), keys: keys.TicketKeys, users: map[string]user{}, now: tuesday10}
	c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: keys.Pool}}}

	c.certDir = certDir
	issuer := srv.URL + "/idp"
	if setup.of != nil {
		issuer = setup.of.issuer
	} else {
		idp, err := devidp.New(ctx, devidp.Config{Issuer: issuer, Users: devidp.DefaultUsers()})
		if err != nil {
			t.Fatal(err)
		}
		mux.Handle("/idp/", idp.Handler())
		c.idp = idp
	}
	c.issuer = issuer
	// TestRotatedSigningKeyVerifiesWithoutRestart rotates the key right after the first JWKS
	// fetch; a real provider rotates far less often than identity.DefaultJWKSRefetchInterval.
	vcfg := identity.Config{Issuer: issuer, ClientID: "portcullis", HTTPClient: c.http, JWKSRefetchInterval: time.Millisecond}
	if setup.verifier != nil {
		setup.verifier(&vcfg)
	}
	verifier, err := identity.NewVerifier(ctx, vcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		Store: st, Policy: setup.policy, Auth: verifier,
		AuthConfig: api.AuthConfig{Issuer: issuer, ClientID: "portcullis", Scopes: []string{"openid", "email", "profile", "groups"}},
		LongPoll:   2 * time.Second, Now: func() time.Time { return c.now.Add(time.Duration(c.later.Load())) },
	}
	keys.Configure(&cfg)
	for _, configure := range setup.configure {
		configure(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", gw.Handler())
	c.gateway = gw
	return c
}

// login signs a user in through the development IdP's device flow and exchanges the ID token
// for the user's key-bound client certificate.
func (c *cm) login(t testing.TB, email, otp string) user {
	t.Helper()
	key := email + "/" + otp
	if u, ok := c.users[key]; ok {
		return u
	}
	u := user{email: email, token: c.idToken(t, email, otp)}
	var err error
	if u.key, u.cert, err = c.exchange(u.token); err != nil {
		t.Fatalf("credential for %s: %v", email, err)
	}
	u.client = c.clientWithPEM(t, u.key, u.cert.Certificate)
	c.users[key] = u
	return u
}

// idToken signs a user in through the development IdP's device flow and returns the ID token.
func (c *cm) idToken(t testing.TB, email, otp string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ac api.AuthConfig
	if err := api.Call(ctx, c.http, http.MethodGet, c.url+api.PathAuthConfig, "", nil, &ac); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	dl := identity.DeviceLogin{
		Config: identity.Config{Issuer: ac.Issuer, ClientID: ac.ClientID, Scopes: ac.Scopes, HTTPClient: c.http},
		Prompt: func(uri, code string) {
			go func() { done <- devidp.SubmitDeviceLogin(ctx, c.http, uri, code, email, "password", otp) }()
		},
	}
	tok, err := dl.Run(ctx)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("login form for %s: %v", email, err)
	}
	return tok.IDToken
}

// exchange asks the CM for a client certificate for a fresh key, paying with idToken.
func (c *cm) exchange(idToken string) (ed25519.PrivateKey, api.CredentialResponse, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, api.CredentialResponse{}, err
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	var resp api.CredentialResponse
	err = api.Call(context.Background(), c.http, http.MethodPost, c.url+api.PathCredential, idToken,
		api.CredentialRequest{PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, &resp)
	return key, resp, err
}

// clientWithPEM returns an HTTP client that presents the PEM certificate for key.
func (c *cm) clientWithPEM(t testing.TB, key ed25519.PrivateKey, certPEM string) *http.Client {
	t.Helper()
	der, err := pemCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c.clientWith(der, key)
}

// call sends a request to the CM as u.
func (c *cm) call(u user, method, path string, in, out any) error {
	hc := u.client
	if hc == nil {
		hc = c.http
	}
	return api.Call(context.Background(), hc, method, c.url+path, u.token, in, out)
}

// hostAgent is an enrolled Host's credentials, as the Host agent would hold them.
type hostAgent struct {
	id     string
	key    ed25519.PrivateKey
	client *http.Client
}

// enroll has dave create a token and a Host enrol with it.
func (c *cm) enroll(t testing.TB, name string, tags map[string]string, tenant string) hostAgent {
	t.Helper()
	tok := c.createToken(t, c.login(t, "dave@example.com", ""), tags, tenant)
	h, err := c.tryEnroll(name, tok)
	if err != nil {
		t.Fatalf("enroll %s: %v", name, err)
	}
	return h
}

func (c *cm) createToken(t testing.TB, admin user, tags map[string]string, tenant string) string {
	t.Helper()
	var resp api.EnrollmentTokenResponse
	err := c.call(admin, http.MethodPost, api.PathEnrollmentTokens, api.EnrollmentTokenRequest{Tags: tags, Tenant: tenant}, &resp)
	if err != nil {
		t.Fatalf("create enrollment token: %v", err)
	}
	return resp.Token
}

func (c *cm) tryEnroll(name, tok string) (hostAgent, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return hostAgent{}, err
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	var resp api.EnrollResponse
	err = api.Call(context.Background(), c.http, http.MethodPost, c.url+api.PathEnroll, "",
		api.EnrollRequest{Token: tok, Name: name, OS: "linux", PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, &resp)
	if err != nil {
		return hostAgent{}, err
	}
	der, err := pemCert(resp.Certificate)
	if err != nil {
		return hostAgent{}, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool, Certificates: []tls.Certificate{cert}}}}
	return hostAgent{id: resp.HostID, key: key, client: hc}, nil
}

// registerRelay registers a relay as a vendor CS does, with the relay's own certificate.
func (c *cm) registerRelay(t testing.TB, reg api.RelayRegistration) {
	t.Helper()
	if err := c.tryRegister(c.relayClient(t, reg.ID), reg); err != nil {
		t.Fatalf("register relay: %v", err)
	}
}

// relayClient is an HTTP client with vendor relay id's own client certificate, as
// `portcullis certs relay --id <id>` issues it.
func (c *cm) relayClient(t testing.TB, id string) *http.Client {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := c.ca.IssueRelayCert(pub, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c.clientWith(der, priv)
}

func (c *cm) clientWith(der []byte, key ed25519.PrivateKey) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}}
}

func (c *cm) tryRegister(hc *http.Client, reg api.RelayRegistration) error {
	return api.Call(context.Background(), hc, http.MethodPost, c.url+api.PathRelayRegister, "", reg, nil)
}

func (c *cm) connect(u user, host string, channels ...string) (api.ConnectResponse, ed25519.PrivateKey, error) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	var resp api.ConnectResponse
	err := c.call(u, http.MethodPost, api.PathConnect,
		api.ConnectRequest{Host: host, Channels: channels, Encryption: "very_high", PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, &resp)
	return resp, key, err
}

func heartbeat(h hostAgent, url string) error {
	return api.Call(context.Background(), h.client, http.MethodPost, url+api.PathHeartbeat, "", struct{}{}, nil)
}

func pemCert(s string) ([]byte, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return block.Bytes, nil
}

func statusOf(err error) (int, api.Error) {
	se, ok := api.AsStatus(err)
	if !ok {
		return 0, api.Error{}
	}
	return se.Status, se.Body
}
