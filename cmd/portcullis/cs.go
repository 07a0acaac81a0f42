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

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/ticket"
)

// keyRefresh is how often a CS fetches the CM's ticket-signing keys (rotation).
const keyRefresh = time.Minute

// csConfig is the Connection Server's configuration.
type csConfig struct {
	ID        string `mapstructure:"id"`
	Listen    string `mapstructure:"listen"`
	Advertise string `mapstructure:"advertise"`
	CMURL     string `mapstructure:"cm-url"`
	CertsDir  string `mapstructure:"certs-dir"`
	Region    string `mapstructure:"region"`
	Owner     string `mapstructure:"owner"`
	Private   bool   `mapstructure:"private"`
	LogLevel  string `mapstructure:"log-level"`
}

func newCSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cs",
		Short: "Run a Connection Server: verifies tickets, pairs the Guest and Host halves of a session and splices them without reading them",
		Args:  cobra.NoArgs,
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
	f.String("cm-url", "https://127.0.0.1:8443", "the Connection Manager's URL")
	f.String("certs-dir", "certs", "directory with ca.crt, cs.crt and cs.key")
	f.String("region", "eu-north", "region reported to the CM")
	f.String("owner", "vendor", "owner: \"vendor\" or the tenant running this private relay")
	f.Bool("private", false, "a tenant's private relay")
	return cmd
}

func runCS(ctx context.Context, cfg csConfig) error {
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	pool, err := certs.LoadCertPool(filepath.Join(cfg.CertsDir, certs.CAFile))
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(cfg.CertsDir, certs.CSCertFile), filepath.Join(cfg.CertsDir, certs.CSKeyFile))
	if err != nil {
		return fmt.Errorf("load CS TLS certificate: %w", err)
	}
	cm := &cmLink{url: cfg.CMURL, client: httpsClient(pool, cert), log: log}
	keys := ticket.NewKeySet(nil)
	if err := cm.fetchKeys(ctx, keys); err != nil {
		return err
	}
	srv := &relay.Server{
		ID:       cfg.ID,
		Verifier: &ticket.Verifier{Keys: keys, Audience: cfg.ID, Replay: &ticket.ReplayCache{}},
		Logger:   log,
		OnSessionEnd: func(r relay.SessionReport) {
			cm.reportEnd(context.WithoutCancel(ctx), cfg.ID, r)
		},
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	log.Info("connection server listening", "id", cfg.ID, "addr", ln.Addr().String(), "advertise", cfg.Advertise)
	reg := api.RelayRegistration{ID: cfg.ID, Addr: cfg.Advertise, Region: cfg.Region, Owner: cfg.Owner, Private: cfg.Private}
	go cm.maintain(ctx, reg, srv, keys)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(tls.NewListener(ln, tlsConf)) }()
	select {
	case err = <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	return srv.Shutdown(sctx)
}

// cmLink is a CS's connection to its CM: registration, load reports, keys and session ends.
type cmLink struct {
	url    string
	client *http.Client
	log    *slog.Logger
}

// fetchKeys loads the CM's ticket-signing keys, retrying until ctx ends.
func (c *cmLink) fetchKeys(ctx context.Context, keys *ticket.KeySet) error {
	for {
		err := api.Call(ctx, c.client, http.MethodGet, c.url+api.PathTicketKeys, "", nil, keys)
		if err == nil {
			return nil
		}
		c.log.Warn("fetch ticket keys from CM", "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// maintain registers the relay and reports its load at the interval the CM asks for, and
// refreshes the ticket keys, until ctx ends.
func (c *cmLink) maintain(ctx context.Context, reg api.RelayRegistration, srv *relay.Server, keys *ticket.KeySet) {
	interval := time.Second
	lastKeys := time.Now()
	for {
		st := srv.Stats()
		reg.Sessions = st.Live
		var resp api.RelayRegistrationResponse
		err := api.Call(ctx, c.client, http.MethodPost, c.url+api.PathRelayRegister, "", reg, &resp)
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("register with CM", "err", err)
		case err == nil && resp.IntervalSeconds > 0:
			interval = time.Duration(resp.IntervalSeconds) * time.Second
		}
		if time.Since(lastKeys) > keyRefresh {
			// A failed or invalid answer leaves the current keys in place.
			if err := api.Call(ctx, c.client, http.MethodGet, c.url+api.PathTicketKeys, "", nil, keys); err == nil {
				lastKeys = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// reportEnd tells the CM that a session ended.
func (c *cmLink) reportEnd(ctx context.Context, relayID string, r relay.SessionReport) {
	end := api.SessionEnd{
		RelayID: relayID, SessionID: r.SessionID, Started: r.Started, Ended: r.Ended,
		BytesUp: r.BytesGuestToHost, BytesDown: r.BytesHostToGuest, Reason: r.Reason,
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := api.Call(ctx, c.client, http.MethodPost, c.url+api.PathRelaySessionEnd, "", end, nil); err != nil {
		c.log.Warn("report session end", "session", r.SessionID, "err", err)
	}
}
