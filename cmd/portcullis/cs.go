package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/rawconn"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/relay/cmlink"
	"github.com/portcullis/portcullis/relay/relayhttp"
	"github.com/portcullis/portcullis/ticket"
)

// csConfig is the Connection Server's configuration.
type csConfig struct {
	ID            string        `mapstructure:"id"`
	Listen        string        `mapstructure:"listen"`
	Advertise     string        `mapstructure:"advertise"`
	HTTPListen    string        `mapstructure:"http-listen"`
	HTTPAdvertise string        `mapstructure:"http-advertise"`
	MetricsListen string        `mapstructure:"metrics-listen"`
	CMURL         string        `mapstructure:"cm"`
	CertsDir      string        `mapstructure:"certs-dir"`
	RelayCert     string        `mapstructure:"relay-cert"`
	RelayKey      string        `mapstructure:"relay-key"`
	StateDir      string        `mapstructure:"state-dir"`
	EnrollToken   string        `mapstructure:"enroll-token"`
	Region        string        `mapstructure:"region"`
	MaxSessions   int           `mapstructure:"max-sessions"`
	PerSource     int           `mapstructure:"max-handshakes-per-source"`
	DrainTimeout  time.Duration `mapstructure:"drain-timeout"`
	Pprof         string        `mapstructure:"pprof-listen"`
	GCPercent     int           `mapstructure:"gc-percent"`
	logConfig     `mapstructure:",squash"`
}

// Validate reports every problem of the configuration at once.
func (c csConfig) Validate() error {
	var errs []error
	if c.ID == "" || c.Listen == "" || c.Advertise == "" || c.CMURL == "" {
		errs = append(errs, errors.New("cs: id, listen, advertise and cm are required"))
	}
	if c.CMURL != "" {
		if err := checkCMURL("cm", c.CMURL); err != nil {
			errs = append(errs, fmt.Errorf("cs: %w", err))
		}
	}
	if c.ID != "" {
		if err := certs.CheckRelayID(c.ID); err != nil {
			errs = append(errs, fmt.Errorf("cs: %w", err))
		}
	}
	if (c.RelayCert == "") != (c.RelayKey == "") {
		errs = append(errs, errors.New("cs: relay-cert and relay-key go together"))
	}
	if err := checkGCPercent(c.GCPercent); err != nil {
		errs = append(errs, fmt.Errorf("cs: %w", err))
	}
	if c.HTTPListen != "" && c.HTTPAdvertise == "" {
		errs = append(errs, errors.New("cs: http-advertise is required with http-listen"))
	}
	if c.Advertise != "" {
		if err := checkAdvertise(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("cs: %w", err))
		}
	}
	if c.HTTPListen != "" && c.HTTPAdvertise != "" {
		if err := checkHTTPAdvertise(c.HTTPAdvertise); err != nil {
			errs = append(errs, fmt.Errorf("cs: %w", err))
		}
	}
	if c.EnrollToken != "" && c.StateDir == "" {
		errs = append(errs, errors.New("cs: a relay that enrols needs a state-dir to keep its identity"))
	}
	if c.MaxSessions < 0 || c.PerSource < 0 || c.DrainTimeout < 0 {
		errs = append(errs, errors.New("cs: max-sessions, max-handshakes-per-source and drain-timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// checkAdvertise refuses an --advertise that Guests and Hosts could not dial: it must be
// host:port with a host and a port number.
func checkAdvertise(addr string) error {
	if err := api.CheckRelayAddr(addr); err != nil {
		return fmt.Errorf("--advertise %q is not an address Guests and Hosts can dial (host:port, e.g. cs.example.com:1970): %w", addr, err)
	}
	return nil
}

// checkHTTPAdvertise refuses an --http-advertise that is not the base URL of an HTTP fallback:
// an absolute http or https URL without a query or fragment.
func checkHTTPAdvertise(raw string) error {
	if err := api.CheckRelayHTTPAddr(raw); err != nil {
		return fmt.Errorf("--http-advertise %q is not the HTTP fallback's base URL: give an http:// or https:// URL, e.g. http://cs.example.com:80: %w", raw, err)
	}
	return nil
}

// relayCertFile is the vendor relay's own client certificate: --relay-cert, or its file in the
// certs directory.
func (c csConfig) relayCertFile() string {
	if c.RelayCert != "" {
		return c.RelayCert
	}
	return filepath.Join(c.CertsDir, certs.RelayCertFile(c.ID))
}

// relayKeyFile is the key of relayCertFile.
func (c csConfig) relayKeyFile() string {
	if c.RelayKey != "" {
		return c.RelayKey
	}
	return filepath.Join(c.CertsDir, certs.RelayKeyFile(c.ID))
}

func newCSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "cs",
		// Its credentials are its certificates and enrollment token, never a sign-in.
		Annotations: map[string]string{noSignInAnnotation: ""},
		Short:       "Run a Connection Server: verifies tickets, pairs the Guest and Host halves of a session and splices them without reading them",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg csConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runCS(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	addLogFlag(cmd)
	f.String("id", "cs-eu-1", "this relay's id: the audience of the tickets it accepts")
	f.String("listen", ":1970", "TCP+TLS address for Guests and Hosts")
	f.String("advertise", "127.0.0.1:1970", "address Guests and Hosts dial, as registered with the CM")
	f.String("http-listen", ":80", "address of the HTTP fallback for networks that pass only web traffic (\"\" disables it)")
	f.String("http-advertise", "http://127.0.0.1:80", "base URL of the HTTP fallback, as registered with the CM")
	f.String("metrics-listen", "127.0.0.1:9470", "address serving Prometheus /metrics (\"\" disables it)")
	addCMFlag(f)
	f.String("certs-dir", "certs", "directory with ca.crt, cs.crt and cs.key (the TLS certificate of port 1970) and a vendor relay's own certificate")
	f.String("relay-cert", "", "a vendor relay's own client certificate to the CM, CN relay:<id> (default <certs-dir>/relay-<id>.crt, as 'portcullis certs relay --id <id>' writes it; a tenant's enrolled relay needs none)")
	f.String("relay-key", "", "the key of --relay-cert (default <certs-dir>/relay-<id>.key)")
	f.String("state-dir", "", "directory keeping the relay's HTTP fallback key, the ids of used tickets (so that a restart still refuses them) and, for a tenant's relay, its enrolled identity (default: none: a fresh key per start, and every ticket valid before the start is refused)")
	f.String("enroll-token", "", "relay enrollment token of a tenant's private relay (needed only for the first start)")
	f.String("region", "eu-north", "region reported to the CM")
	f.Int("max-sessions", relay.DefaultMaxLive, "most spliced sessions at once (reported to the CM as capacity)")
	f.Int("max-handshakes-per-source", relay.DefaultMaxHandshakesPerSource, "most unauthenticated connections from one address (an IPv6 /64); beyond it a new one takes the place of the one longest without progress")
	f.Duration("drain-timeout", 30*time.Second, "on SIGTERM, how long live sessions may go on before they are cut")
	addGCPercentFlag(f, csGCPercent, "a CS's live heap is mostly its sessions' TLS state, so a low target saves memory per session for a little CPU during bursts of handshakes")
	addPprofFlag(f)
	return cmd
}

// csGCPercent is the CS's default garbage collection target: with Go's 100, the heap doubles
// the live sessions' memory between collections; at 50 it adds half (make bench's sessions
// section: about 38 KiB per idle session at 100).
const csGCPercent = 50

// replayLogDir is where in the state dir the CS keeps the ids of used tickets.
const replayLogDir = "replay"

// Timeouts of the CS's HTTP servers (the fallback and the metrics).
const (
	// csHTTPHeaderTimeout bounds reading a request's header.
	csHTTPHeaderTimeout = 10 * time.Second
	// csHTTPIdleTimeout closes a keep-alive connection that carries no request for this long,
	// so that idle connections (a flood's, say) do not pile up.
	csHTTPIdleTimeout = time.Minute
)

// csRuntime is a running CS's parts.
type csRuntime struct {
	cfg     csConfig
	log     *slog.Logger
	cm      *cmlink.Link
	srv     *relay.Server
	replay  *ticket.ReplayCache
	httpTLS *tls.Config // the HTTP fallback's TLS (the relay's certificate); nil without it
	metrics http.Handler
}

func runCS(ctx context.Context, cfg csConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := cfg.newLogger()
	if err != nil {
		return err
	}
	if err := servePprof(ctx, cfg.Pprof, log); err != nil {
		return err
	}
	applyGCPercent(cfg.GCPercent)
	rt, tlsConf, keys, err := setupCS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.replay.Close()
	ln, err := listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	serveErr := make(chan error, 3)
	go func() { serveErr <- rt.srv.Serve(tls.NewListener(relay.GatheringListener(ln), tlsConf)) }()
	stopHTTP, err := rt.serveHTTP(ctx, serveErr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopHTTP()
	log.Info("connection server listening", "relay_id", cfg.ID, "addr", ln.Addr().String(), "advertise", cfg.Advertise, "http", cfg.HTTPListen)
	go func() {
		// A replay cache that began to remember at this start (no state dir, or one without a
		// replay log yet) refuses the tickets valid until then plus the skew: registering
		// after that keeps the CM from choosing this relay for tickets it would refuse.
		if known := rt.replay.KnownSince; !known.IsZero() {
			if wait := time.Until(known.Add(ticket.DefaultSkew + time.Second)); wait > 0 {
				log.Info("registering once tickets valid before this start have expired from the skew window", "relay_id", cfg.ID, "wait", wait)
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
		}
		rt.cm.Run(ctx, rt.srv, keys)
	}()
	select {
	case err = <-serveErr:
		return err
	case <-ctx.Done():
	}
	return rt.drain(ctx)
}

// setupCS loads the certificates, the CM link (enrolling a tenant's relay first), the ticket
// keys and the metrics, and builds the relay server.
func setupCS(ctx context.Context, cfg csConfig, log *slog.Logger) (*csRuntime, *tls.Config, *ticket.KeySet, error) {
	pool, err := certs.LoadCertPool(filepath.Join(cfg.CertsDir, certs.CAFile))
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(cfg.CertsDir, certs.CSCertFile), filepath.Join(cfg.CertsDir, certs.CSKeyFile))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load CS TLS certificate: %w", err)
	}
	if err := checkServerCert(cert, certs.RoleRelay); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", filepath.Join(cfg.CertsDir, certs.CSCertFile), err)
	}
	ident, err := cmlink.LoadIdentity(ctx, cmlink.IdentityConfig{
		StateDir: cfg.StateDir, EnrollToken: cfg.EnrollToken, RelayID: cfg.ID, CMURL: cfg.CMURL, Client: cmClient(pool),
		CertFile: cfg.relayCertFile(), KeyFile: cfg.relayKeyFile(),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	link := &cmlink.Link{
		CMURL: cfg.CMURL, Client: cmClient(pool, ident.Cert), Logger: log,
		Registration: api.RelayRegistration{ID: cfg.ID, Addr: cfg.Advertise, Region: cfg.Region, Owner: "vendor", MaxSessions: cfg.MaxSessions},
	}
	if cfg.HTTPListen != "" {
		link.Registration.HTTPAddr = cfg.HTTPAdvertise
	}
	if err := link.Validate(); err != nil {
		return nil, nil, nil, err
	}
	replay, err := openReplayCache(cfg, log, time.Now())
	if err != nil {
		return nil, nil, nil, err
	}
	rt := &csRuntime{cfg: cfg, log: log, cm: link, replay: replay}
	keys := ticket.NewKeySet(nil)
	if err := link.FetchKeys(ctx, keys); err != nil {
		return nil, nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := relay.NewMetrics(reg)
	if err != nil {
		return nil, nil, nil, err
	}
	rt.srv = &relay.Server{
		ID: cfg.ID, Verifier: &ticket.Verifier{Keys: keys, Audience: cfg.ID, Replay: replay},
		MaxLive: cfg.MaxSessions, MaxHandshakesPerSource: cfg.PerSource, Metrics: metrics, Logger: log,
		// Reports outlive the start's context: a session that ends during the drain is reported.
		OnPaired:     func(r relay.PairReport) { go func() { _ = link.ReportPaired(context.WithoutCancel(ctx), r) }() },
		OnSessionEnd: func(r relay.SessionReport) { _ = link.ReportEnd(context.WithoutCancel(ctx), r) },
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.HTTPListen != "" {
		rt.httpTLS = tlsConf
	}
	rt.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return rt, tlsConf, keys, nil
}

// openReplayCache remembers used tickets in the state dir's replay log, so that a restart or a
// crash does not forget them. Without a state dir it remembers them in memory and refuses every
// ticket valid before now, which the previous process may have accepted.
func openReplayCache(cfg csConfig, log *slog.Logger, now time.Time) (*ticket.ReplayCache, error) {
	if cfg.StateDir == "" {
		log.Warn("no state-dir: used tickets are remembered in memory only, so tickets valid before this start are refused as replayed", "relay_id", cfg.ID)
		return &ticket.ReplayCache{KnownSince: now}, nil
	}
	r, err := ticket.OpenReplayCache(filepath.Join(cfg.StateDir, replayLogDir), now)
	if err != nil {
		return nil, fmt.Errorf("cs: %w", err)
	}
	log.Info("used tickets are remembered in the state dir", "relay_id", cfg.ID, "replay_log", filepath.Join(cfg.StateDir, replayLogDir), "remembered", r.Len())
	return r, nil
}

// serveHTTP starts the HTTP fallback and the metrics endpoint; stop closes both.
func (rt *csRuntime) serveHTTP(ctx context.Context, serveErr chan<- error) (stop func(), err error) {
	var servers []*http.Server
	stop = func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}
	start := func(ln net.Listener, h http.Handler) {
		s := &http.Server{Handler: h, ReadHeaderTimeout: csHTTPHeaderTimeout, IdleTimeout: csHTTPIdleTimeout}
		servers = append(servers, s)
		go func() { _ = s.Serve(ln) }()
	}
	if rt.httpTLS != nil {
		ln, err := listen(rt.cfg.HTTPListen)
		if err != nil {
			return stop, fmt.Errorf("listen %s: %w", rt.cfg.HTTPListen, err)
		}
		tunnels := relayhttp.NewServer(rt.httpTLS, ln.Addr())
		tunnels.Logger = rt.log
		start(rawconn.Listener{Listener: ln}, tunnels)
		go tunnels.Run(ctx.Done())
		go func() { serveErr <- rt.srv.Serve(tunnels) }()
	}
	if rt.cfg.MetricsListen != "" {
		ln, err := listen(rt.cfg.MetricsListen)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("listen %s: %w", rt.cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", rt.metrics)
		start(ln, mux)
	}
	return stop, nil
}

// drain tells the CM this relay takes no new sessions, refuses new connections, and lets live
// sessions finish until the drain timeout, then cuts them.
func (rt *csRuntime) drain(ctx context.Context) error {
	rt.log.Info("draining: new connections are refused; live sessions may finish", "deadline", rt.cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rt.cfg.DrainTimeout)
	defer cancel()
	rt.cm.Drain(sctx, rt.srv)
	err := rt.srv.Shutdown(sctx)
	rt.log.Info("drained", "err", err)
	return err
}
