package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Config configures the development identity provider.
type Config struct {
	// Issuer is the provider's public URL, e.g. https://127.0.0.1:8443/idp.
	// Required: https, or http on a loopback host. Its path is where the
	// caller mounts Handler.
	Issuer string
	// Users may sign in; empty means DefaultUsers().
	Users []User
	// ClientID is the id of the public client; default DefaultClientID ("portcullis").
	ClientID string
	// Logger receives sign-in and key events; nil discards them.
	Logger *slog.Logger
	// WebRedirectURIs are redirect URIs of web applications (the CM's web console, e.g.
	// https://127.0.0.1:8443/ui/callback) the client may use besides the loopback ones.
	WebRedirectURIs []string
	// SigningKey is the first signing key (RSA, 2048 bits or more); nil makes a fresh one. A
	// caller that keeps it across restarts keeps the ID tokens it signed verifying.
	SigningKey *rsa.PrivateKey
}

// Provider is a running development OpenID Provider. It is safe for concurrent use.
type Provider struct {
	issuer  string
	path    string // the issuer URL's path without a trailing slash, e.g. "/idp"
	store   *storage
	op      *op.Provider
	page    *template.Template
	log     *slog.Logger
	handler http.Handler
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	_, issuerErr := parseIssuer(c.Issuer)
	_, usersErr := newDirectory(c.users())
	return errors.Join(issuerErr, usersErr)
}

// users returns the configured users, or DefaultUsers() when there are none.
func (c Config) users() []User {
	if len(c.Users) == 0 {
		return DefaultUsers()
	}
	return c.Users
}

// New builds a provider with a fresh signing key and empty state.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := parseIssuer(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	users := cfg.users()
	dir, err := newDirectory(users)
	if err != nil {
		return nil, err
	}
	p := &Provider{issuer: cfg.Issuer, path: strings.TrimSuffix(u.Path, "/"), log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	key, err := firstKey(cfg.SigningKey)
	if err != nil {
		return nil, err
	}
	p.store = newStorage(dir, publicClient{id: clientID, loginURL: p.path + pathLogin, web: cfg.WebRedirectURIs}, key)
	if p.op, err = newOP(cfg.Issuer, p.path, u.Scheme == "http", p.store); err != nil {
		return nil, err
	}
	if p.page, err = template.New("login").Parse(loginPage); err != nil {
		return nil, fmt.Errorf("devidp: login page: %w", err)
	}
	p.handler = p.routes()
	p.log.InfoContext(ctx, "development identity provider ready", "issuer", cfg.Issuer, "client_id", clientID,
		"users", len(users), "key_id", key.id)
	return p, nil
}

// parseIssuer checks the issuer URL: https, or http on a loopback host; no query or fragment.
func parseIssuer(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil || issuer == "" {
		return nil, fmt.Errorf("devidp: issuer %q is not a URL", issuer)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("devidp: issuer %q has no host", issuer)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("devidp: issuer %q must not have a query or fragment", issuer)
	case u.Scheme != "https" && (u.Scheme != "http" || !loopback):
		return nil, fmt.Errorf("devidp: issuer %q must use https (http only on a loopback host)", issuer)
	}
	return u, nil
}

// newOP builds the zitadel OpenID Provider over the storage.
func newOP(issuer, path string, insecure bool, store *storage) (*op.Provider, error) {
	var cryptoKey [32]byte // encrypts the opaque access tokens
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("devidp: token encryption key: %w", err)
	}
	config := &op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes: []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail,
			oidc.ScopeOfflineAccess, scopeGroups},
		SupportedClaims: slices.Concat(op.DefaultSupportedClaims, []string{"groups"}),
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     DeviceCodeLifetime,
			PollInterval: DevicePollInterval,
			// The verification URI is the issuer's host with this path.
			UserFormPath: path + pathDevice,
			UserCode:     op.UserCodeBase20,
		},
	}
	var opts []op.Option
	if insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(config, store, op.StaticIssuer(issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("devidp: OpenID provider: %w", err)
	}
	return provider, nil
}

// routes serves the login pages beside the OpenID Provider's endpoints,
// all relative to the issuer path.
func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathLogin, p.showLogin)
	mux.HandleFunc("POST "+pathLogin, p.submitLogin)
	mux.HandleFunc("GET "+pathDevice, p.showDevice)
	mux.HandleFunc("POST "+pathDevice, p.submitDevice)
	mux.Handle("/", p.op)
	if p.path == "" {
		return mux
	}
	return http.StripPrefix(p.path, mux)
}

// Handler serves everything under the issuer's path. Mount it at that path
// prefix, e.g. mux.Handle("/idp/", p.Handler()) for issuer https://host/idp.
func (p *Provider) Handler() http.Handler { return p.handler }

// Issuer returns the issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// ClientID returns the id of the public client.
func (p *Provider) ClientID() string { return p.store.client.id }

// RotateKey makes a new signing key current. The previous keys stay in the
// JWKS (up to MaxPublishedKeys in all), so tokens they signed still verify.
func (p *Provider) RotateKey() error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	p.store.rotateKey(k)
	p.log.Info("signing key rotated", "key_id", k.id)
	return nil
}

// errLoginRequest: the login form was posted without a pending sign-in request.
var errLoginRequest = errors.New("this sign-in request is missing; start again from the application")

// firstKey is the configured signing key, or a fresh one.
func firstKey(key *rsa.PrivateKey) (*signingKey, error) {
	if key == nil {
		return newSigningKey()
	}
	if key.N.BitLen() < rsaKeyBits {
		return nil, fmt.Errorf("devidp: the signing key has %d bits, want at least %d", key.N.BitLen(), rsaKeyBits)
	}
	return signingKeyOf(key)
}
