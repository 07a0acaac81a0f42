package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/identity/devidp"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/store"
)

// testCM is a real gateway.Server over HTTPS with the default policy and the development
// identity provider, for the CLI's commands to talk to as they would to a CM.
type testCM struct {
	url    string
	store  *store.DB
	caFile string
	http   *http.Client

	mu     sync.Mutex
	served map[string]int // requests served, by path
}

// countServed counts the requests to each path before h serves them.
func (c *testCM) countServed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.served[r.URL.Path]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// requests is how many requests to path the CM has served so far.
func (c *testCM) requests(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served[path]
}

// startTestCM serves a CM on the store of dsn.
func startTestCM(t testing.TB, dsn string) *testCM {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := certs.Init(certDir, certs.InitOptions{Algorithm: certs.AlgP384}); err != nil {
		t.Fatal(err)
	}
	keys, err := gateway.LoadKeys(certDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	engine, err := policy.New(ctx, policy.WithFS(rego.Files()))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c := &testCM{store: st, caFile: filepath.Join(certDir, certs.CAFile), served: map[string]int{},
		http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: keys.Pool}}}}
	srv := httptest.NewUnstartedServer(c.countServed(mux))
	srv.TLS = keys.TLS
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c.url = srv.URL
	issuer := srv.URL + "/idp"
	idp, err := devidp.New(ctx, devidp.Config{Issuer: issuer, Users: devidp.DefaultUsers()})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/idp/", idp.Handler())
	verifier, err := identity.NewVerifier(ctx, identity.Config{Issuer: issuer, ClientID: "portcullis", HTTPClient: c.http})
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		Store: st, Policy: engine, Auth: verifier,
		AuthConfig: api.AuthConfig{Issuer: issuer, ClientID: "portcullis", Scopes: []string{"openid", "email", "profile", "groups"}},
	}
	keys.Configure(&cfg)
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", gw.Handler())
	return c
}

// signIn signs email in as 'portcullis login --device' would (the development IdP's form
// answered in process) and returns the Guest settings of the commands that act as that user.
func (c *testCM) signIn(t testing.TB, email string) guestConfig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := guestConfig{CM: c.url, CAFile: c.caFile, ConfigDir: t.TempDir()}
	icfg, err := g.identityConfig(ctx, c.http)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	tok, err := identity.DeviceLogin{Config: icfg, Prompt: func(uri, code string) {
		go func() { done <- devidp.SubmitDeviceLogin(ctx, c.http, uri, code, email, "password", "") }()
	}}.Run(ctx)
	if err != nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("sign-in form of %s: %v", email, err)
	}
	if err := (identity.TokenCache{Dir: g.ConfigDir}).Save(g.CM, tok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (guest.CredentialStore{Dir: g.ConfigDir}).Obtain(ctx, c.http, g.CM, tok.IDToken); err != nil {
		t.Fatalf("credential of %s: %v", email, err)
	}
	return g
}
