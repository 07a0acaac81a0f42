package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/identity/devidp"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// shutdownGrace bounds how long a daemon waits for live requests when it stops.
const shutdownGrace = 10 * time.Second

// cmConfig is the Connection Manager's configuration.
type cmConfig struct {
	Listen       string        `mapstructure:"listen"`
	PublicURL    string        `mapstructure:"public-url"`
	CertsDir     string        `mapstructure:"certs-dir"`
	Store        string        `mapstructure:"store"`
	PolicyDir    string        `mapstructure:"policy-dir"`
	PolicyBundle string        `mapstructure:"policy-bundle"`
	PolicyKey    string        `mapstructure:"policy-key"`
	PolicyKeyID  string        `mapstructure:"policy-key-id"`
	PolicyAlg    string        `mapstructure:"policy-key-alg"`
	PolicyPoll   time.Duration `mapstructure:"policy-poll"`
	// AllowUntested serves a policy that has no Rego tests, shown in the policy status and metrics.
	AllowUntested bool     `mapstructure:"allow-untested-policy"`
	OIDCIssuer    string   `mapstructure:"oidc-issuer"`
	OIDCClientID  string   `mapstructure:"oidc-client-id"`
	OIDCScopes    []string `mapstructure:"oidc-scopes"`
	// OIDCClientSecret is published to Guests: only for native clients whose "secret" is not
	// confidential (Google desktop apps).
	OIDCClientSecret string `mapstructure:"oidc-client-secret"`
	// Claim mapping and requirements of the ID tokens.
	UserClaim            string        `mapstructure:"oidc-user-claim"`
	GroupsClaim          string        `mapstructure:"oidc-groups-claim"`
	RequireEmailVerified bool          `mapstructure:"oidc-require-email-verified"`
	RequireACR           []string      `mapstructure:"oidc-require-acr"`
	RequireAMR           []string      `mapstructure:"oidc-require-amr"`
	MaxSkew              time.Duration `mapstructure:"oidc-max-skew"`
	// Lifetimes of the credentials the CM issues.
	MaxCredentialTTL time.Duration `mapstructure:"max-credential-ttl"`
	HostCertTTL      time.Duration `mapstructure:"host-cert-ttl"`
	// HeartbeatListen is the plain-HTTP listener for signed Host heartbeats; "" for none.
	HeartbeatListen string `mapstructure:"heartbeat-listen"`
	DevIdP          bool   `mapstructure:"dev-idp"`
	// DevIdPConsoles are further web consoles the development identity provider signs in:
	// the public URLs of CM replicas that trust this CM's provider.
	DevIdPConsoles []string `mapstructure:"dev-idp-console-url"`
	Instance       string   `mapstructure:"instance"`
	PrivateRelay   []string `mapstructure:"private-relay-tenants"`
	Revocation     string   `mapstructure:"revocation"`
	// ReevaluateInterval is how often live sessions are re-decided without a policy change.
	ReevaluateInterval time.Duration `mapstructure:"reevaluate-interval"`
	PprofListen        string        `mapstructure:"pprof-listen"`
	GCPercent          int           `mapstructure:"gc-percent"`
	ProcsPerCPU        int           `mapstructure:"gomaxprocs-per-cpu"`
	// DecisionLogURL is the OPA decision-log collector the committed records are shipped to;
	// "" ships none.
	DecisionLogURL   string        `mapstructure:"decision-log-url"`
	DecisionLogBatch int           `mapstructure:"decision-log-batch"`
	DecisionLogPoll  time.Duration `mapstructure:"decision-log-poll"`
	logConfig        `mapstructure:",squash"`
}

// decisionLogShipping is the gateway's shipping configuration of cfg (none without a URL).
func (cfg cmConfig) decisionLogShipping() logship.Config {
	return logship.Config{URL: cfg.DecisionLogURL, Batch: cfg.DecisionLogBatch, Poll: cfg.DecisionLogPoll}
}

func newCMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "cm",
		// Its credentials are its certificates and enrollment token, never a sign-in.
		Annotations: map[string]string{noSignInAnnotation: ""},
		Short:       "Run the Connection Manager: the HTTPS API that decides, records and brokers every connection",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg cmConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runCM(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	addLogFlag(cmd)
	f.String("listen", ":8443", "address of the HTTPS API")
	f.String("public-url", "https://127.0.0.1:8443", "the URL Guests and Hosts use to reach this CM")
	f.String("certs-dir", "certs", "directory written by 'portcullis certs init'")
	f.String("store", "sqlite:portcullis.db", "store DSN: sqlite:FILE, postgres://… or cockroach://…")
	f.String("policy-dir", "", "directory of Rego policy, reloaded on change (default: the embedded default policy)")
	f.String("policy-bundle", "", "signed OPA bundle (.tar.gz) of Rego policy, reloaded on change: a file (watched), or the https:// URL of a bundle service (polled with its ETag); needs --policy-key and --policy-key-id")
	f.String("policy-key", "", "file of the PEM public key (or HS* shared secret) that verifies the policy bundle's signature")
	f.String("policy-key-id", "", "the key id the bundle signature must be verified as (set explicitly, never taken from the bundle)")
	f.String("policy-key-alg", policy.DefaultBundleAlgorithm, "the bundle signature's algorithm (ES384, ES256, RS256, PS256, HS256, ...)")
	f.Duration("policy-poll", policy.DefaultPollInterval, "how often the policy is polled for changes: a bundle service's only check; for a directory or bundle file a safety net beside the file notifications it is watched with (for file systems that do not notify, such as NFS)")
	f.Bool(flagAllowUntested, false, "serve a policy directory or bundle that has no Rego tests (refused by default); shown in GET /v1/policy/status and portcullis_policy_untested")
	f.String("oidc-issuer", "", "OIDC issuer URL of the identity provider (default with --dev-idp: PUBLIC_URL/idp)")
	f.String("oidc-client-id", "portcullis", "OIDC client id Guests sign in with")
	f.StringSlice("oidc-scopes", []string{"openid", "email", "profile", "groups", "offline_access"}, "OIDC scopes Guests ask for")
	f.String("oidc-client-secret", "", "client secret of a native client that the provider does not treat as confidential (Google desktop apps); published to Guests — never a confidential client's secret")
	f.String("oidc-user-claim", identity.DefaultUserClaim, "ID token claim that names the user: email, preferred_username, sub, upn, …")
	f.String("oidc-groups-claim", identity.DefaultGroupsClaim, "ID token claim that lists the user's groups (e.g. groups, roles)")
	f.Bool("oidc-require-email-verified", false, "refuse ID tokens whose email_verified claim is not true")
	f.StringSlice("oidc-require-acr", nil, "refuse ID tokens whose acr claim is none of these values")
	f.StringSlice("oidc-require-amr", nil, "refuse ID tokens whose amr claim lacks any of these methods (e.g. mfa)")
	f.Duration("oidc-max-skew", identity.DefaultMaxSkew, "clock skew tolerated on ID token times (at most 5m)")
	f.Duration("max-credential-ttl", gateway.DefaultMaxCredentialTTL, "longest lifetime of a Guest's key-bound client certificate (it never outlives its ID token)")
	f.Duration("host-cert-ttl", gateway.DefaultHostCertTTL, "lifetime of Host client certificates (Hosts renew at two thirds of it)")
	f.String("heartbeat-listen", "", "plain-HTTP address that accepts only Host heartbeats signed with the Host key, e.g. :8080 (default: none)")
	f.Bool("dev-idp", false, "serve the development identity provider (alice, bob, carol, dave and mallory; see docs/identity-providers.md) under /idp — never in production")
	f.StringSlice("dev-idp-console-url", nil, "with --dev-idp: public URLs of other CMs (replicas behind a load balancer) whose web console the development identity provider signs in too")
	f.String("instance", "", "name of this CM replica, recorded in every decision and holding the singleton lease; distinct per replica (default: host name and a random suffix)")
	f.StringSlice("private-relay-tenants", nil, "tenants whose sessions use only their own private relays, never a vendor relay")
	addPprofFlag(f)
	addGCPercentFlag(f, cmGCPercent, "at most: the CM lowers it, not below 100, while the growth it allows over the live heap would exceed 256 MiB (a connect's allocations, the policy evaluation's most, do not stay live: at a high connect rate a higher target collects less often)")
	addProcsPerCPUFlag(f)
	f.Duration("reevaluate-interval", gateway.DefaultReevaluate, "how often the replica holding the singleton lease re-decides every live session without a policy change (it also does on every policy change)")
	f.String("decision-log-url", "", "OPA decision-log collector to ship every committed decision record to, at least once, as OPA does (gzip JSON array of events POSTed to the URL, to URL/logs when it has no path); default: no shipping")
	f.Int("decision-log-batch", logship.DefaultBatch, "decision records per POST to the decision-log collector")
	f.Duration("decision-log-poll", logship.DefaultPoll, "how often an idle shipper looks for new decision records")
	f.String("revocation", gateway.RevokeEnd, "what happens to a live session the policy now denies: \"end\" it, or only \"warn\" and record")
	return cmd
}

// cmGCPercent is the CM's default garbage collection target while its live heap is small;
// it is lowered as the live heap grows (tuneGC).
const cmGCPercent = 400

func runCM(ctx context.Context, cfg cmConfig) error {
	if err := errors.Join(checkGCPercent(cfg.GCPercent), checkProcsPerCPU(cfg.ProcsPerCPU), checkCM(cfg)); err != nil {
		return err
	}
	log, err := cfg.newLogger()
	if err != nil {
		return err
	}
	tuneGC(ctx, cfg.GCPercent)
	log.Info("go runtime", "gomaxprocs", applyProcsPerCPU(cfg.ProcsPerCPU))
	if err := servePprof(ctx, cfg.PprofListen, log); err != nil {
		return err
	}
	keys, err := loadCMKeys(cfg.CertsDir)
	if err != nil {
		return err
	}
	pol, err := loadPolicy(ctx, cfg, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	issuer, err := mountDevIdP(ctx, cfg, mux, log)
	if err != nil {
		return err
	}
	idpClient := httpsClient(keys.Pool)
	if cfg.DevIdP {
		idpClient = withLocalIssuer(idpClient, issuer, mux)
	}
	oidcCfg := identity.Config{
		Issuer: issuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret, Scopes: cfg.OIDCScopes,
		HTTPClient: idpClient, MaxSkew: cfg.MaxSkew, Logger: log,
		Mapping: identity.ClaimMapping{
			UserClaim: cfg.UserClaim, GroupsClaim: cfg.GroupsClaim, RequireEmailVerified: cfg.RequireEmailVerified,
			RequireACR: cfg.RequireACR, RequireAMR: cfg.RequireAMR,
		},
	}
	verifier, err := identity.NewVerifier(ctx, oidcCfg)
	if err != nil {
		return fmt.Errorf("identity provider: %w", err)
	}
	// The store is created last: a CM that cannot start leaves no database behind.
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	gcfg := gateway.Config{
		Store: st, Policy: pol, Auth: verifier,
		AuthConfig: api.AuthConfig{Issuer: issuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret, Scopes: cfg.OIDCScopes},
		Instance:   cfg.Instance, PrivateRelayTenants: cfg.PrivateRelay, Revocation: cfg.Revocation, Logger: log,
		MaxCredentialTTL: cfg.MaxCredentialTTL, HostCertTTL: cfg.HostCertTTL, ReevaluateInterval: cfg.ReevaluateInterval,
		DecisionLogShipping: cfg.decisionLogShipping(),
	}
	keys.Configure(&gcfg)
	gw, err := gateway.New(gcfg)
	if err != nil {
		return namedByFlags(err)
	}
	mux.Handle("/", gw.Handler())
	if err := mountConsole(mux, gw, st, verifier, oidcCfg, cfg.PublicURL, keys, log); err != nil {
		log.Warn("the web console is not served", "err", err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: keys.TLS, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("connection manager listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "issuer", issuer, "policy_revision", pol.Status().Revision)
	background := func(ctx context.Context) error { return runBoth(ctx, gw.Run, pol.Run) }
	if cfg.HeartbeatListen != "" {
		hbLn, err := listen(cfg.HeartbeatListen)
		if err != nil {
			return fmt.Errorf("listen for signed heartbeats: %w", err)
		}
		hbSrv := &http.Server{Handler: gw.PlainHeartbeatHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: srv.ErrorLog}
		log.Info("signed heartbeat listener (plain HTTP)", "addr", hbLn.Addr().String())
		// The plain listener runs beside the HTTPS one, with the other background work behind it.
		inner := background
		background = func(ctx context.Context) error { return serveUntilDone(ctx, hbSrv, hbLn, inner) }
	}
	err = serveUntilDone(ctx, srv, tls.NewListener(ln, keys.TLS), background)
	// Another replica takes the singleton work over at once rather than when the lease expires.
	if rerr := gw.ReleaseLease(context.WithoutCancel(ctx)); rerr != nil {
		log.Warn("release the singleton lease", "err", rerr)
	}
	return err
}

// serveUntilDone serves HTTP until ctx ends, runs background alongside, then shuts down.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, background func(context.Context) error) error {
	bgCtx, cancelBG := context.WithCancel(ctx)
	bgDone := make(chan error, 1)
	go func() { bgDone <- background(bgCtx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	cancelBG()
	if berr := <-bgDone; berr != nil && err == nil {
		err = berr
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// loadPolicy starts the policy Manager: the configured directory or signed bundle, or the
// embedded default policy.
func loadPolicy(ctx context.Context, cfg cmConfig, log *slog.Logger) (*policy.Manager, error) {
	mc := policy.ManagerConfig{Dir: cfg.PolicyDir, Bundle: cfg.PolicyBundle, PollInterval: cfg.PolicyPoll, AllowUntested: cfg.AllowUntested, Logger: log}
	if cfg.PolicyBundle != "" {
		mc.Verify = policy.BundleVerification{KeyID: cfg.PolicyKeyID, Algorithm: cfg.PolicyAlg}
		if cfg.PolicyKey != "" {
			key, err := os.ReadFile(cfg.PolicyKey)
			if err != nil {
				return nil, fmt.Errorf("policy bundle key: %w", err)
			}
			mc.Verify.Key = string(key)
		}
	}
	m, err := policy.NewManager(ctx, mc)
	if errors.Is(err, policy.ErrUntested) {
		return nil, fmt.Errorf("load policy: %w (to serve it anyway: --%s)", err, flagAllowUntested)
	}
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return m, nil
}

// flagAllowUntested is the CM's flag (and configuration key) that lets a policy without tests serve.
const flagAllowUntested = "allow-untested-policy"

// runBoth runs a and b until ctx ends (or one fails, which ends the other) and returns both errors.
func runBoth(ctx context.Context, a, b func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errB := make(chan error, 1)
	go func() {
		err := b(ctx)
		cancel()
		errB <- err
	}()
	errA := a(ctx)
	cancel()
	return errors.Join(errA, <-errB)
}

// mountDevIdP serves the development identity provider when configured, and returns the
// issuer Guests sign in with.
func mountDevIdP(ctx context.Context, cfg cmConfig, mux *http.ServeMux, log *slog.Logger) (string, error) {
	if !cfg.DevIdP {
		if cfg.OIDCIssuer == "" {
			return "", errors.New("oidc-issuer is required (or --dev-idp for local development)")
		}
		return cfg.OIDCIssuer, nil
	}
	issuer := devIdPIssuer(cfg)
	key, err := loadDevIdPKey(filepath.Join(cfg.CertsDir, devIdPKeyFile), log)
	if err != nil {
		return "", err
	}
	idp, err := devidp.New(ctx, devidp.Config{Issuer: issuer, Users: devidp.DefaultUsers(), ClientID: cfg.OIDCClientID, Logger: log, SigningKey: key,
		WebRedirectURIs: consoleRedirectURIs(cfg.PublicURL, cfg.DevIdPConsoles)})
	if err != nil {
		return "", fmt.Errorf("development identity provider: %w", err)
	}
	mux.Handle(devIdPPath+"/", idp.Handler())
	log.Warn("serving the development identity provider: for local use only", "issuer", issuer)
	return issuer, nil
}

// devIdPPath is where the CM mounts the development identity provider.
const devIdPPath = "/idp"

// httpsClient returns an HTTP client that trusts pool (nil: the system roots), optionally
// presenting client certificates.
func httpsClient(pool *x509.CertPool, clientCerts ...tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: clientCerts, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}

// loadCMKeys loads the CM's keys before anything else is created (a store, say); when they are
// missing it says how to make them.
func loadCMKeys(dir string) (*gateway.Keys, error) {
	keys, err := gateway.LoadKeys(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the CM's keys are not in --certs-dir %s; create them with 'portcullis certs init --dir %s'", err, dir, dir)
	}
	if err != nil {
		return nil, err
	}
	for _, c := range keys.TLS.Certificates {
		if err := checkServerCert(c, certs.RoleCM); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, certs.CMCertFile), err)
		}
	}
	return keys, nil
}
