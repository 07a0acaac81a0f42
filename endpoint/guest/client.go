package guest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
)

// Client is the Guest: it asks the CM to connect, dials the CS with its ticket and runs the
// end-to-end SSH client over the spliced stream. It never listens (but ListenForward does, on
// the loopback address).
type Client struct {
	// CMURL is the CM's base URL.
	CMURL string
	// RootCAs verifies the CM's and the CS's TLS certificates; nil means the system pool.
	RootCAs *x509.CertPool
	// Trust, when set, verifies them instead of RootCAs: a CA file's certificates, and the
	// system roots (read only when needed; see certs.Trust).
	Trust *certs.Trust
	// IDToken is the signed-in user's OIDC ID token.
	IDToken string
	// Credential is the client certificate the CM issued for the Guest's own key (see
	// CredentialStore); the CM refuses the ID token without it.
	Credential tls.Certificate
	// Encryption is the encryption level the Guest insists on; "" means access.DefaultLevel. A
	// grant whose minimum is stronger is refused (ErrBelowMinimum).
	Encryption string
	// Challenge answers the Host's own questions (a host-local password); nil answers none.
	Challenge ssh.KeyboardInteractiveChallenge
	// PreferredProtocol is how to reach the relay: "auto" (default: TCP, then HTTP), "tcp" or "http".
	PreferredProtocol string
	// RelayHTTP carries the relay's HTTP fallback; nil means HTTP_PROXY / NO_PROXY aware defaults.
	RelayHTTP *http.Client
	// MaxAttempts bounds how many relays the Guest tries for one connection (failover);
	// 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Probes, when set, keeps the relays the CM names for probing (ProbeCache); nil asks the
	// CM before every connect.
	Probes *ProbeCache
	// Warnings receives the Host's notices during a session (its approaching end) and a line
	// for each relay given up (failover); nil discards them.
	Warnings io.Writer

	// cm is the kept-alive client for the CM (HTTPClient), made for cmCert.
	cmMu   sync.Mutex
	cm     *http.Client
	cmCert []byte
}

// DefaultMaxAttempts is how many relays a Guest tries for one connection.
const DefaultMaxAttempts = 3

// DeniedError is the CM's refusal of a connection, with the policy's reasons.
type DeniedError struct {
	// Reasons are the policy's reasons for the denial.
	Reasons []string
	// DecisionID names the CM's decision in its decision log.
	DecisionID string
}

// Error names the decision and the policy's reasons.
func (e *DeniedError) Error() string {
	return fmt.Sprintf("connection denied (decision %s): %s", e.DecisionID, strings.Join(e.Reasons, "; "))
}

// Unwrap returns access.ErrDenied, the denial's code.
func (e *DeniedError) Unwrap() error { return access.ErrDenied }

// Session is a live end-to-end SSH connection to a Host.
type Session struct {
	*ssh.Client
	// Grant is the CM's answer that allowed the session.
	Grant api.ConnectResponse
	// Transport is how the Guest reached the relay: "tcp" or "http".
	Transport string
	// Failed lists the relays tried before this one, with why (failover).
	Failed []string

	printed <-chan struct{} // closed when the Host's notices are printed
}

// noticeWait bounds how long Close waits for the Host's last notices to be printed.
const noticeWait = time.Second

// Close closes the session and waits (briefly) until the Host's notices, such as why it ended
// the session, are printed.
func (s *Session) Close() error {
	err := s.Client.Close()
	select {
	case <-s.printed:
	case <-time.After(noticeWait):
	}
	return err
}

// ErrBelowMinimum reports a Guest encryption level weaker than the policy's minimum for the session.
var ErrBelowMinimum = errors.New("guest: encryption level below the policy's minimum")

// Connect asks the CM for a session to host with the given channels and opens it. When the
// relay cannot be reached or pairing fails there, it asks the CM again, excluding that relay.
func (g *Client) Connect(ctx context.Context, host string, channels []string) (*Session, error) {
	req, err := g.request(ctx, host, channels)
	if err != nil {
		return nil, err
	}
	var failed []string
	for attempt := 1; ; attempt++ {
		s, err := g.attempt(ctx, req)
		if err == nil {
			s.Failed = failed
			return s, nil
		}
		var rf *relayFailure
		if !errors.As(err, &rf) || attempt >= cmp.Or(g.MaxAttempts, DefaultMaxAttempts) {
			if len(failed) > 0 {
				err = fmt.Errorf("%w (after failing over from %s)", err, strings.Join(failed, "; "))
			}
			return nil, err
		}
		failed = append(failed, rf.relay+": "+rf.err.Error())
		fmt.Fprintf(orDiscard(g.Warnings), "portcullis: relay %s %s after %.1fs; trying another relay\n", rf.relay, failoverReason(rf.err), rf.took.Seconds())
		req.ExcludeRelays = append(req.ExcludeRelays, rf.relay)
	}
}

// failoverReason says in a few words why a relay was given up.
func failoverReason(err error) string {
	if errors.Is(err, endpoint.ErrUnreachable) {
		return "did not answer"
	}
	if code, ok := access.Find(err); ok {
		return "refused the session (" + string(code) + ")"
	}
	return "failed"
}

// relayFailure is a dial failure that another relay may not have.
type relayFailure struct {
	relay string
	err   error
	took  time.Duration // from dialing the relay to giving it up
}

// Error names the relay and the failure.
func (e *relayFailure) Error() string { return fmt.Sprintf("relay %s: %v", e.relay, e.err) }

// Unwrap returns the failure.
func (e *relayFailure) Unwrap() error { return e.err }

// attempt asks the CM once and dials the relay it names.
func (g *Client) attempt(ctx context.Context, req api.ConnectRequest) (*Session, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate session key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	grant, err := g.ask(ctx, req, sshPub)
	if err != nil {
		return nil, err
	}
	signer, hostKey, err := grantKeys(grant, key)
	if err != nil {
		return nil, err
	}
	dialed := time.Now()
	conn, transport, err := g.dialer(grant.Relay.Addr).Dial(ctx, grant.Relay, grant.Ticket)
	if err != nil {
		if endpoint.RetryElsewhere(err) {
			return nil, &relayFailure{relay: grant.Relay.ID, err: err, took: time.Since(dialed)}
		}
		return nil, fmt.Errorf("relay %s: %w", grant.Relay.ID, err)
	}
	client, printed, err := handshake(conn, SSHConfig{User: grant.Principal, Signer: signer, HostKey: hostKey, Level: g.level(), Challenge: g.Challenge, Warnings: g.Warnings})
	if err != nil {
		return nil, fmt.Errorf("end-to-end SSH with %s: %w", req.Host, err)
	}
	return &Session{Client: client, Grant: grant, Transport: transport, printed: printed}, nil
}

// request builds a connect request for host, with the Guest's latency to the relays the CM
// may choose for it (measured now).
func (g *Client) request(ctx context.Context, host string, channels []string) (api.ConnectRequest, error) {
	if err := endpoint.ValidatePreferred(g.PreferredProtocol); err != nil {
		return api.ConnectRequest{}, err
	}
	if _, err := access.LevelRank(g.level()); err != nil {
		return api.ConnectRequest{}, err
	}
	targets := g.probeTargets(ctx, host)
	return api.ConnectRequest{Host: host, Channels: channels, Encryption: g.level(), RelayLatencies: g.dialer("").Probe(ctx, targets)}, nil
}

// probeTargets returns the relays the Guest probes before connecting to host: the ones the
// CM named within ProbeCacheTTL (g.Probes), or else the CM's answer now. Without the list the
// CM decides on the Host's measurements and the load alone.
func (g *Client) probeTargets(ctx context.Context, host string) []api.RelayAddr {
	now := time.Now()
	if g.Probes != nil {
		if relays, ok := g.Probes.Load(g.CMURL, host, now); ok {
			return relays
		}
	}
	var targets []api.RelayAddr
	if err := api.Call(ctx, g.HTTPClient(), http.MethodGet, g.CMURL+api.PathRelayProbes+"?host="+url.QueryEscape(host), g.IDToken, nil, &targets); err != nil {
		return nil
	}
	if g.Probes != nil {
		// Best effort: a cache that cannot be written only means asking again next time.
		_ = g.Probes.Save(g.CMURL, host, targets, now)
	}
	return targets
}

// dialer reaches relays as the Guest prefers; its TLS is for the relay at relayAddr (host:port).
func (g *Client) dialer(relayAddr string) endpoint.RelayDialer {
	host, _, err := net.SplitHostPort(relayAddr)
	if err != nil {
		host = relayAddr
	}
	return endpoint.RelayDialer{Preferred: g.PreferredProtocol, TLS: g.tlsConfig(host, certs.RoleRelay), HTTP: g.RelayHTTP, PlainLegs: access.PlainLegs(g.level())}
}

// level is the encryption level the Guest asks for.
func (g *Client) level() string {
	return access.NormalizeLevel(g.Encryption)
}

// tlsConfig verifies the CM or a CS (role) as serverName: a chain ending at a Portcullis CA
// must end in role's certificate (certs.ServerRole), so that a relay cannot pose as the CM.
func (g *Client) tlsConfig(serverName string, role certs.ServerRole) *tls.Config {
	if g.Trust != nil {
		return g.Trust.RoleConfig(serverName, role)
	}
	return certs.PinRole(&tls.Config{RootCAs: g.RootCAs, ServerName: serverName, MinVersion: tls.VersionTLS12}, role)
}

// HTTPClient talks to the CM, presenting the Guest's credential. Its connections are kept
// alive, so that one command's calls (relay probes, connect, session listing) share a TLS
// handshake; a renewed credential gets a new client.
func (g *Client) HTTPClient() *http.Client {
	var leaf []byte
	if len(g.Credential.Certificate) > 0 {
		leaf = g.Credential.Certificate[0]
	}
	g.cmMu.Lock()
	defer g.cmMu.Unlock()
	if g.cm != nil && bytes.Equal(g.cmCert, leaf) {
		return g.cm
	}
	if g.cm != nil {
		g.cm.CloseIdleConnections()
	}
	var cmHost string
	if u, err := url.Parse(g.CMURL); err == nil {
		cmHost = u.Hostname()
	}
	conf := g.tlsConfig(cmHost, certs.RoleCM)
	if leaf != nil {
		conf.Certificates = []tls.Certificate{g.Credential}
	}
	g.cm, g.cmCert = &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}, leaf
	return g.cm
}

// RequestGrant asks the CM for a session to host for the Guest's key pub and returns the grant:
// a policy refusal is a *DeniedError; a grant whose minimum encryption is stronger than the
// Guest's level is refused here (ErrBelowMinimum), before any byte goes to the relay.
func (g *Client) RequestGrant(ctx context.Context, host string, channels []string, pub ssh.PublicKey) (api.ConnectResponse, error) {
	req, err := g.request(ctx, host, channels)
	if err != nil {
		return api.ConnectResponse{}, err
	}
	return g.ask(ctx, req, pub)
}

// ask sends req for the key pub and checks the grant's minimum encryption.
func (g *Client) ask(ctx context.Context, req api.ConnectRequest, pub ssh.PublicKey) (api.ConnectResponse, error) {
	req.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	var grant api.ConnectResponse
	if err := api.Call(ctx, g.HTTPClient(), http.MethodPost, g.CMURL+api.PathConnect, g.IDToken, req, &grant); err != nil {
		if se, ok := api.AsStatus(err); ok && se.Body.Code == access.ErrDenied {
			return grant, &DeniedError{Reasons: se.Body.Reasons, DecisionID: se.Body.DecisionID}
		}
		return grant, fmt.Errorf("connect to %s: %w", req.Host, err)
	}
	if min := grant.Obligations.MinEncryption; !access.LevelAtLeast(g.level(), min) {
		g.refuse(ctx, grant.SessionID, fmt.Sprintf("its encryption level %s is below the policy's minimum %s", g.level(), access.NormalizeLevel(min)))
		return grant, fmt.Errorf("%w: this Guest insists on %q, and the policy demands at least %q for %s (decision %s)",
			ErrBelowMinimum, g.level(), access.NormalizeLevel(min), req.Host, grant.DecisionID)
	}
	return grant, nil
}

// refuse tells the CM that the Guest will not use the session it granted, so that the session
// is recorded as ended now, with why, rather than when its pairing times out. It is best
// effort: a CM that does not hear it ends the session at that timeout.
func (g *Client) refuse(ctx context.Context, sessionID, reason string) {
	if sessionID == "" {
		return
	}
	path := api.PathSessions + "/" + url.PathEscape(sessionID) + "/refuse"
	if err := api.Call(ctx, g.HTTPClient(), http.MethodPost, g.CMURL+path, g.IDToken, api.SessionRefusal{Reason: reason}, nil); err != nil && g.Warnings != nil {
		fmt.Fprintf(g.Warnings, "portcullis: could not tell the CM that the session is refused: %v\n", err)
	}
}

// DialRelay dials the grant's Connection Server with the Guest's ticket, over TCP or the HTTP
// fallback as the Guest prefers.
func (g *Client) DialRelay(ctx context.Context, grant api.ConnectResponse) (net.Conn, error) {
	conn, _, err := g.dialer(grant.Relay.Addr).Dial(ctx, grant.Relay, grant.Ticket)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", grant.Relay.ID, err)
	}
	return conn, nil
}

// grantKeys turns the CM's answer into the certificate signer and the pinned host key.
func grantKeys(grant api.ConnectResponse, key ed25519.PrivateKey) (ssh.Signer, ssh.PublicKey, error) {
	certKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(grant.Certificate))
	if err != nil {
		return nil, nil, fmt.Errorf("certificate from CM: %w", err)
	}
	cert, ok := certKey.(*ssh.Certificate)
	if !ok {
		return nil, nil, errors.New("certificate from CM is not an SSH certificate")
	}
	keySigner, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("session key: %w", err)
	}
	signer, err := ssh.NewCertSigner(cert, keySigner)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate does not match the session key: %w", err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(grant.HostKey))
	if err != nil {
		return nil, nil, fmt.Errorf("host key from CM: %w", err)
	}
	return signer, hostKey, nil
}

// Principal asks the CM for the signed-in user's principal (the user name on a Host) with one
// page of one reachable Host: every page names it, and the CM decides at most a page's scan of
// Hosts for it, not the whole fleet.
func (g *Client) Principal(ctx context.Context) (string, error) {
	var page api.ReachableHosts
	u := g.CMURL + api.PathReachableHosts + "?" + url.Values{api.QueryLimit: {"1"}}.Encode()
	if _, err := api.CallPage(ctx, g.HTTPClient(), u, g.IDToken, &page); err != nil {
		return "", fmt.Errorf("ask the CM for the principal: %w", err)
	}
	return page.Principal, nil
}
