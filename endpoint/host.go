package endpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint/hostauth"
	"github.com/portcullis/portcullis/ticket"
)

// Files a Host keeps in its state directory.
const (
	hostKeyFile   = "host.key"
	hostCertFile  = "host.crt"
	hostStateFile = "host.json"
)

// Host agent timings.
const (
	defaultHeartbeat = 10 * time.Second
	pollTimeout      = 40 * time.Second // the CM holds a poll for up to 25 s
	minBackoff       = 250 * time.Millisecond
	maxBackoff       = 30 * time.Second
)

// Host is the agent on a remotely controlled device. It dials out only: to the CM for
// enrollment, heartbeats and its long-poll, and to a CS for each session. It never listens.
type Host struct {
	// CMURL is the CM's base URL, e.g. https://cm.example.com.
	CMURL string
	// RootCAs verifies the CM's and the CS's TLS certificates; nil means the system pool.
	RootCAs *x509.CertPool
	// StateDir holds the Host's key, certificate and identity (mode 0700).
	StateDir string
	// EnrollmentToken is used once, when StateDir holds no identity yet.
	EnrollmentToken string
	// Name is the host name to enrol under.
	Name string
	// Shell runs commands and shells; default /bin/sh.
	Shell string
	// HeartbeatURL, when set (e.g. http://cm.example.com:8080), sends heartbeats there over
	// plain HTTP instead of over mTLS to CMURL, each signed with the Host's key and carrying
	// the time and a strictly increasing counter, so that it can be neither forged nor
	// replayed and holds no secret. The CM must run a plain heartbeat listener. The Host's
	// clock must stay within the CM's heartbeat skew (default 1 min) and not go back across
	// restarts (the counter starts at the wall clock): the CM refuses stale or replayed
	// heartbeats, and a refused Host stops.
	HeartbeatURL string
	// Encryption is the weakest encryption level this Host accepts; "" means access.DefaultLevel. A
	// session uses the stronger of it and the policy's minimum.
	Encryption string
	// Account is the local account sessions run as; nil means the agent's own user.
	Account *Account
	// SFTPCommand runs the sftp server as Account (see SSHServerConfig.SFTPCommand).
	SFTPCommand []string
	// Schemes are the Host owner's authorization schemes after central; nil means none.
	Schemes *hostauth.Schemes
	// Logger receives the agent's logs; default discards.
	Logger *slog.Logger
	// PreferredProtocol is how to reach relays: "auto" (default: TCP, then HTTP), "tcp" or "http".
	PreferredProtocol string
	// RelayHTTP carries the relays' HTTP fallback; nil means HTTP_PROXY / NO_PROXY aware defaults.
	RelayHTTP *http.Client
	// ProbeInterval is how often the Host re-measures its latency to relays; 0 means
	// DefaultProbeInterval.
	ProbeInterval time.Duration

	live liveSessions
}

// DefaultProbeInterval is how often a Host re-measures its latency to relays.
const DefaultProbeInterval = time.Minute

// hostState is what the Host remembers about its enrollment.
type hostState struct {
	HostID    string            `json:"host_id"`
	Name      string            `json:"name"`
	SSHUserCA string            `json:"ssh_user_ca"`
	Tags      map[string]string `json:"tags"`
	Tenant    string            `json:"tenant"`
}

// hostRuntime is an enrolled Host's live identity.
type hostRuntime struct {
	state  hostState
	key    ed25519.PrivateKey
	signer ssh.Signer
	userCA ssh.PublicKey
	dialer RelayDialer
	// client talks to the CM with the current client certificate; renewals replace it.
	client atomic.Pointer[http.Client]
	// leaf is the current client certificate.
	leaf atomic.Pointer[x509.Certificate]
	// counter is the last signed-heartbeat counter sent.
	counter atomic.Int64
	// stop ends the agent with a cause.
	stop context.CancelCauseFunc
}

// cm returns the client with the Host's current certificate.
func (rt *hostRuntime) cm() *http.Client { return rt.client.Load() }

// Run enrols if needed, then heartbeats and serves connection requests until ctx ends.
func (h *Host) Run(ctx context.Context) error {
	if err := ValidatePreferred(h.PreferredProtocol); err != nil {
		return err
	}
	log := h.logger()
	rt, err := h.start(ctx)
	if err != nil {
		return err
	}
	log.Info("host running", "host_id", rt.state.HostID, "name", rt.state.Name)
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rt.stop = stop
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { h.heartbeats(ctx, rt) })
	wg.Go(func() { h.renewals(ctx, rt) })
	backoff := minBackoff
	for ctx.Err() == nil {
		var reqs api.HostRequests
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		client := rt.cm()
		err := api.Call(pctx, client, http.MethodGet, h.CMURL+api.PathHostRequests, "", nil, &reqs)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if rt.refused(client, err) {
				break
			}
			pause := jitter(backoff)
			if se, ok := api.AsStatus(err); ok && se.Body.RetryAfterSeconds > 0 {
				pause = jitter(time.Duration(se.Body.RetryAfterSeconds) * time.Second) // the CM is shedding a herd
			}
			log.Warn("poll CM", "err", err, "retry_in", pause)
			sleep(ctx, pause)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		for _, req := range reqs.Requests {
			if req.Kill {
				if h.live.end(req.SessionID, req.Reason) {
					log.Info("ending session on the CM's order", "session", req.SessionID, "reason", req.Reason)
				}
				continue
			}
			sctx, done := h.live.start(ctx, req.SessionID)
			wg.Go(func() {
				defer done()
				h.serve(sctx, rt, req)
			})
		}
	}
	if cause := context.Cause(ctx); errors.Is(cause, errRefused) {
		return cause
	}
	return nil
}

// errRefused: the CM refuses this Host (disabled, deleted, or its certificate revoked).
var errRefused = errors.New("CM refuses this host")

// refused reports whether err is the CM refusing the Host (401 or 403) on a request made
// with client, and then stops the agent. A refusal of a certificate that was renewed in the
// meantime is not one: the next request uses the new certificate.
func (rt *hostRuntime) refused(client *http.Client, err error) bool {
	se, ok := api.AsStatus(err)
	if !ok || (se.Status != http.StatusUnauthorized && se.Status != http.StatusForbidden) || rt.cm() != client {
		return false
	}
	rt.stop(fmt.Errorf("%w: %w", errRefused, err))
	return true
}

func (h *Host) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// start loads the Host's identity, enrolling first when there is none.
func (h *Host) start(ctx context.Context) (*hostRuntime, error) {
	if err := os.MkdirAll(h.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(h.StateDir, hostStateFile)); errors.Is(err, os.ErrNotExist) {
		if err := h.enroll(ctx); err != nil {
			return nil, err
		}
	}
	return h.load()
}

func (h *Host) enroll(ctx context.Context) error {
	if h.EnrollmentToken == "" {
		return errors.New("host is not enrolled: an enrollment token is required")
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	req := api.EnrollRequest{Token: h.EnrollmentToken, Name: h.Name, OS: "linux", PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	var resp api.EnrollResponse
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.RootCAs, MinVersion: tls.VersionTLS12}}}
	if err := api.Call(ctx, hc, http.MethodPost, h.CMURL+api.PathEnroll, "", req, &resp); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	st := hostState{HostID: resp.HostID, Name: h.Name, SSHUserCA: resp.SSHUserCA, Tags: resp.Tags, Tenant: resp.Tenant}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode host state: %w", err)
	}
	if err := certs.WriteEd25519PrivateKey(filepath.Join(h.StateDir, hostKeyFile), key); err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(filepath.Join(h.StateDir, hostCertFile), []byte(resp.Certificate), 0o600); err != nil {
		return err
	}
	return certs.WriteFileAtomic(filepath.Join(h.StateDir, hostStateFile), data, 0o600)
}

func (h *Host) load() (*hostRuntime, error) {
	data, err := os.ReadFile(filepath.Join(h.StateDir, hostStateFile))
	if err != nil {
		return nil, fmt.Errorf("read host state: %w", err)
	}
	var st hostState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode host state: %w", err)
	}
	key, err := certs.LoadEd25519PrivateKey(filepath.Join(h.StateDir, hostKeyFile))
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	userCA, _, _, _, err := ssh.ParseAuthorizedKey([]byte(st.SSHUserCA))
	if err != nil {
		return nil, fmt.Errorf("ssh user CA in host state: %w", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(h.StateDir, hostCertFile))
	if err != nil {
		return nil, fmt.Errorf("read host certificate: %w", err)
	}
	rt := &hostRuntime{
		state: st, key: key, signer: signer, userCA: userCA,
		dialer: RelayDialer{
			Preferred: h.PreferredProtocol, HTTP: h.RelayHTTP,
			TLS: &tls.Config{RootCAs: h.RootCAs, MinVersion: tls.VersionTLS12},
		},
	}
	// The counter of signed heartbeats starts at the wall clock in nanoseconds and counts up,
	// so that it keeps rising across restarts without being stored.
	rt.counter.Store(time.Now().UnixNano())
	if err := h.useCertificate(rt, certPEM); err != nil {
		return nil, err
	}
	return rt, nil
}

// useCertificate makes certPEM (for the Host's key) the certificate of rt's CM client.
func (h *Host) useCertificate(rt *hostRuntime, certPEM []byte) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("host certificate: no PEM certificate in " + hostCertFile)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("host certificate: %w", err)
	}
	tlsCert := tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: rt.key, Leaf: leaf}
	mtls := &tls.Config{RootCAs: h.RootCAs, Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}
	if old := rt.client.Swap(&http.Client{Transport: &http.Transport{TLSClientConfig: mtls}}); old != nil {
		old.CloseIdleConnections()
	}
	rt.leaf.Store(leaf)
	return nil
}

// renewAt is when a certificate should be renewed: after two thirds of its lifetime (counted
// from its issue, not from its backdated NotBefore).
func renewAt(leaf *x509.Certificate) time.Time {
	issued := leaf.NotBefore.Add(certs.BackdateCertificates)
	return issued.Add(leaf.NotAfter.Sub(issued) * 2 / 3)
}

// renewals renews the Host's client certificate at two thirds of its lifetime, retrying with
// backoff until it succeeds or the certificate has expired, and stores the new one.
func (h *Host) renewals(ctx context.Context, rt *hostRuntime) {
	log := h.logger()
	backoff := minBackoff
	for {
		wait := time.Until(renewAt(rt.leaf.Load()))
		if !sleep(ctx, max(wait, 0)) {
			return
		}
		client := rt.cm()
		if err := h.renew(ctx, rt); err != nil {
			if ctx.Err() != nil || rt.refused(client, err) {
				return
			}
			log.Warn("renew host certificate", "err", err, "expires", rt.leaf.Load().NotAfter, "retry_in", backoff)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		log.Info("host certificate renewed", "expires", rt.leaf.Load().NotAfter)
	}
}

// renew asks the CM for a new certificate, stores it, then uses it.
func (h *Host) renew(ctx context.Context, rt *hostRuntime) error {
	var resp api.HostRenewResponse
	if err := api.Call(ctx, rt.cm(), http.MethodPost, h.CMURL+api.PathHostRenew, "", struct{}{}, &resp); err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(filepath.Join(h.StateDir, hostCertFile), []byte(resp.Certificate), 0o600); err != nil {
		return err
	}
	return h.useCertificate(rt, []byte(resp.Certificate))
}

// heartbeats tells the CM the Host is alive, with its latency to the relays the CM names,
// re-measured every probe interval and at once when the CM names other relays.
func (h *Host) heartbeats(ctx context.Context, rt *hostRuntime) {
	interval := defaultHeartbeat
	var targets []api.RelayAddr
	var hb api.Heartbeat
	var probed time.Time
	for {
		if len(targets) > 0 && time.Since(probed) >= orDefault(h.ProbeInterval, DefaultProbeInterval) {
			hb.RelayLatencies, probed = rt.dialer.Probe(ctx, targets), time.Now()
		}
		client := rt.cm()
		resp, err := h.heartbeat(ctx, rt, hb)
		switch {
		case err != nil && rt.refused(client, err):
			return
		case err != nil && ctx.Err() == nil:
			h.logger().Warn("heartbeat", "err", err)
		case err == nil && resp.IntervalSeconds > 0:
			interval = time.Duration(resp.IntervalSeconds) * time.Second
		}
		if err == nil && !slices.Equal(targets, resp.Relays) {
			targets, probed = resp.Relays, time.Time{}
			if len(targets) > 0 {
				continue // measure the new relays and report them now
			}
		}
		if !sleep(ctx, jitter(interval)) {
			return
		}
	}
}

// heartbeat sends one heartbeat: signed over plain HTTP to HeartbeatURL when set (without
// relay latencies), otherwise body over mTLS to the CM.
func (h *Host) heartbeat(ctx context.Context, rt *hostRuntime, body api.Heartbeat) (api.HeartbeatResponse, error) {
	var resp api.HeartbeatResponse
	if h.HeartbeatURL == "" {
		err := api.Call(ctx, rt.cm(), http.MethodPost, h.CMURL+api.PathHeartbeat, "", body, &resp)
		return resp, err
	}
	hb := api.SignedHeartbeat{HostID: rt.state.HostID, Time: time.Now(), Counter: rt.counter.Add(1)}
	hb.Signature = ed25519.Sign(rt.key, hb.SigningBytes())
	err := api.Call(ctx, http.DefaultClient, http.MethodPost, strings.TrimSuffix(h.HeartbeatURL, "/")+api.PathSignedHeartbeat, "", hb, &resp)
	return resp, err
}

// serve dials the CS with the Host's ticket and runs the end-to-end SSH server over it.
func (h *Host) serve(ctx context.Context, rt *hostRuntime, req api.HostRequest) {
	log := h.logger().With("session", req.SessionID)
	_, claims, err := ticket.Parse(req.Ticket)
	if err != nil || claims.SessionID != req.SessionID || claims.Role != access.RoleHost {
		log.Warn("refusing a malformed connection request", "err", err)
		return
	}
	conn, transport, err := rt.dialer.Dial(ctx, req.Relay, req.Ticket)
	if err != nil {
		log.Warn("dial relay", "relay", req.Relay.ID, "err", err)
		return
	}
	defer conn.Close()
	log.Info("session paired", "relay", req.Relay.ID, "transport", transport, "subject", req.Subject)
	log.Info("session paired", "relay", req.Relay.ID, "subject", req.Subject)
	var channels atomic.Int64
	err = ServeSSH(ctx, conn, SSHServerConfig{
		HostKey: rt.signer, UserCA: rt.userCA, SessionID: claims.SessionID,
		Obligations: claims.Obligations, Shell: h.Shell, Logger: log,
		Level:   access.StrongerLevel(h.Encryption, claims.Obligations.MinEncryption),
		Account: h.Account, SFTPCommand: h.SFTPCommand, HostName: rt.state.Name,
		Auth:      h.Schemes.For(claims.Obligations.RequireConfirm),
		OnChannel: func(string) { channels.Add(1) },
	})
	reason := endReason(ctx, err)
	log.Info("session ended", "err", err, "reason", reason)
	h.reportEnd(ctx, rt, req.SessionID, &channels, reason)
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d by ±20 % so that many Hosts do not act in step.
func jitter(d time.Duration) time.Duration {
	span := int64(d) * 2 / 5
	if span <= 0 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(span))
	if err != nil {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(n.Int64())
}
