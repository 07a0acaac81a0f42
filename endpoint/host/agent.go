package host

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/hostauth"
)

// Agent timings (retries back off from minBackoff to maxBackoff, see newBackOff).
const (
	// defaultHeartbeat is the heartbeat interval until the CM names one.
	defaultHeartbeat = 10 * time.Second
	// pollingHeartbeats is how many heartbeat intervals apart a Host whose long-polls the CM
	// answers heartbeats: the CM counts a long-poll as a sign of life, so these heartbeats
	// only carry relay latencies and fetch the relays to measure.
	pollingHeartbeats = 6
	// pollTimeout bounds one long-poll; the CM holds a poll for up to 25 s.
	pollTimeout = 40 * time.Second
	// DefaultProbeInterval is how often a Host re-measures its latency to relays.
	DefaultProbeInterval = time.Minute
	// renewalGrace is how long after a renewal a refusal of the new certificate as a replaced
	// one is retried rather than final: a CM replica of an older version may still trust the
	// old serial for its HostAuthTTL (5 s by default).
	renewalGrace = time.Minute
)

// Agent is the Host agent on a remotely controlled device. It dials out only: to the CM for
// enrolment, heartbeats and its long-poll, and to a CS for each session, which it serves with
// ServeSSH. It never listens for the network (the one listener, hostauth's confirm socket, is
// a local unix socket).
type Agent struct {
	// CMURL is the CM's base URL, e.g. https://cm.example.com.
	CMURL string
	// RootCAs verifies the CM's and the CS's TLS certificates; nil means the system pool.
	RootCAs *x509.CertPool
	// StateDir holds the Host's key, certificate and identity, and the password scheme's lock
	// table (hostauth.LockStateFile; pass it as hostauth.Config.StateDir). Required; it is made
	// private to the agent's user (internal/privatedir); DefaultStateDir is the usual one.
	StateDir string
	// EnrollmentToken is used once, when StateDir holds no identity yet.
	EnrollmentToken string
	// Name is the host name to enrol under.
	Name string
	// Shell runs commands and shells; "" means DefaultShell.
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
	// SFTPCommand runs the sftp server as Account (see SSHConfig.SFTPCommand).
	SFTPCommand []string
	// SFTPReadMax is the most file data the sftp server answers one read with, announced to
	// Guests (see SSHConfig.SFTPReadMax); 0 announces nothing.
	SFTPReadMax int
	// Schemes are the Host owner's authorization schemes after central; nil means none.
	Schemes *hostauth.Schemes
	// Logger receives the agent's logs; nil discards them.
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

// Run enrols if needed, then heartbeats, renews its certificate and serves connection requests
// until ctx ends or the CM refuses the Host (then it returns that refusal).
func (h *Agent) Run(ctx context.Context) error {
	if err := endpoint.ValidatePreferred(h.PreferredProtocol); err != nil {
		return err
	}
	log := h.logger()
	rt, err := h.start(ctx)
	if err != nil {
		return err
	}
	log.Info("host running", "host_id", rt.state.HostID, "host_name", rt.state.Name)
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rt.stop = stop
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { h.heartbeats(ctx, rt) })
	wg.Go(func() { h.renewals(ctx, rt) })
	for ctx.Err() == nil {
		reqs, err := h.poll(ctx, rt)
		if err != nil {
			break // ctx ended, or the CM refuses the Host
		}
		for _, req := range reqs.Requests {
			if req.Kill {
				if h.live.end(req.SessionID, req.Reason) {
					log.Info("ending session on the CM's order", "session_id", req.SessionID, "reason", req.Reason)
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

// poll long-polls the CM for connection requests, retrying with backoff (or when the CM
// says, as it does when it sheds a herd) until it answers, ctx ends or the CM refuses the
// Host.
func (h *Agent) poll(ctx context.Context, rt *hostRuntime) (api.HostRequests, error) {
	b := newBackOff()
	return backoff.Retry(ctx, func() (api.HostRequests, error) {
		var reqs api.HostRequests
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		client := rt.cm()
		err := api.Call(pctx, client, http.MethodGet, h.CMURL+api.PathHostRequests, "", nil, &reqs)
		rt.polling.Store(err == nil)
		switch {
		case err == nil:
			return reqs, nil
		case ctx.Err() == nil && rt.refused(client, err):
			return reqs, backoff.Permanent(err)
		}
		if se, ok := api.AsStatus(err); ok && se.Body.RetryAfterSeconds > 0 {
			b.after = time.Duration(se.Body.RetryAfterSeconds) * time.Second
		}
		return reqs, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, pause time.Duration) {
		h.logger().Warn("poll CM", "err", err, "retry_in", pause)
	}))
}

// errRefused: the CM refuses this Host (disabled, deleted, or its certificate revoked).
var errRefused = errors.New("CM refuses this host")

// refused reports whether err is the CM refusing the Host (401 or 403) on a request made
// with client, and then stops the agent. A refusal of a certificate that was renewed in the
// meantime is not one: the next request uses the new certificate. Nor is a refusal of the new
// certificate as a replaced one within renewalGrace of the renewal: it is retried.
func (rt *hostRuntime) refused(client *http.Client, err error) bool {
	se, ok := api.AsStatus(err)
	if !ok || (se.Status != http.StatusUnauthorized && se.Status != http.StatusForbidden) || rt.cm() != client {
		return false
	}
	if se.Body.Reason == access.ErrCredentialMismatch && time.Since(time.Unix(0, rt.renewed.Load())) < renewalGrace {
		return false
	}
	rt.stop(fmt.Errorf("%w: %w", errRefused, err))
	return true
}

// logger returns the agent's logger, one that discards when none is set.
func (h *Agent) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// serve verifies the Host's ticket (verifyTicket; a ticket that fails is refused, logged and
// reported, and no relay is dialed), then dials the CS with it and runs the end-to-end SSH
// server over it with the ticket's obligations.
func (h *Agent) serve(ctx context.Context, rt *hostRuntime, req api.HostRequest) {
	log := h.logger().With("session_id", req.SessionID)
	claims, err := rt.verifyTicket(ctx, req)
	if err != nil {
		h.refuseRequest(ctx, rt, req, err)
		return
	}
	level := access.StrongerLevel(h.Encryption, claims.Obligations.MinEncryption)
	dialer := rt.dialer
	dialer.PlainLegs = access.PlainLegs(level)
	conn, transport, err := dialRelay(ctx, func(ctx context.Context) (net.Conn, string, error) {
		return dialer.Dial(ctx, req.Relay, req.Ticket)
	})
	if err != nil {
		log.Warn("dial relay", "relay_id", req.Relay.ID, "err", err)
		return
	}
	defer conn.Close()
	log.Info("session paired", "relay_id", req.Relay.ID, "transport", transport, "subject", req.Subject)
	var channels atomic.Int64
	err = ServeSSH(ctx, conn, SSHConfig{
		HostKey: rt.signer, UserCA: rt.userCA, SessionID: claims.SessionID,
		Obligations: claims.Obligations, Shell: h.Shell, Logger: h.logger(), // ServeSSH adds session_id
		Level:   level,
		Account: h.Account, SFTPCommand: h.SFTPCommand, SFTPReadMax: h.SFTPReadMax, HostName: rt.state.Name,
		Auth:      h.Schemes.For(claims.Obligations.RequireConfirm),
		OnChannel: func(string) { channels.Add(1) },
	})
	reason := endReason(ctx, err)
	log.Info("session ended", "err", err, "reason", reason)
	h.reportEnd(ctx, rt, req.SessionID, &channels, reason)
}

// probeInterval is how often the Host re-measures its latency to relays.
func (h *Agent) probeInterval() time.Duration {
	return cmp.Or(h.ProbeInterval, DefaultProbeInterval)
}
