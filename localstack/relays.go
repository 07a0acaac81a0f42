package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
)

// closedAddr is an address nothing listens on, which a relay may still advertise (a CS and
// the CM refuse port 0, which nobody can dial): port 1 (tcpmux), which no test and no service
// here binds, so every dial of it is refused at once, as a firewall's reset.
const closedAddr = "127.0.0.1:1"

// relayDrainTimeout is how long a relay's live sessions may go on after SIGTERM.
const relayDrainTimeout = "5s"

// RelaySpec describes a Connection Server to start.
type RelaySpec struct {
	ID, Region string
	// Name is the process's name (its log, its state directory); default ID.
	Name string
	// Advertise is the address registered with the CM; default the address it listens on.
	Advertise string
	// BlockTCP advertises, for the TCP transport, an address nothing listens on (closedAddr),
	// as if a firewall refused TCP/1970: only the HTTP fallback reaches the relay.
	BlockTCP bool
	// HTTPHost is the host name the HTTP fallback advertises (it listens on 127.0.0.1);
	// default 127.0.0.1. A name only a proxy resolves (squidtest.Alias) makes clients go
	// through the proxy named by HTTP_PROXY.
	HTTPHost string
	// EnrollToken makes the relay a tenant's private relay, enrolled with this relay token.
	// Without one it is a vendor relay, and StartRelay issues it its own certificate first
	// (RelayCert).
	EnrollToken string
	// Args are extra flags of the CS command (e.g. --pprof-listen).
	Args []string
}

// StartRelay starts a Connection Server; WaitRelays waits until the CM sees it. Started again
// with the same ID (after Proc.Kill, say), it restarts on the same state directory, on new
// ports; its log starts over.
func (s *Stack) StartRelay(ctx context.Context, r RelaySpec) (*Proc, error) {
	if r.EnrollToken == "" {
		if _, _, err := s.RelayCert(r.ID); err != nil {
			return nil, err
		}
	}
	name := orDefault(r.Name, r.ID)
	var socks [3]*socket // TCP transport, HTTP fallback, metrics
	defer func() {
		for _, sock := range socks {
			if sock != nil {
				sock.close() // the relay has its own copy; a killed relay's ports refuse at once
			}
		}
	}()
	for i := range socks {
		var err error
		if socks[i], err = listenLoopback(); err != nil {
			return nil, err
		}
	}
	tcp, httpSock, metrics := socks[0], socks[1], socks[2]
	advertise := orDefault(r.Advertise, tcp.addr)
	if r.BlockTCP {
		advertise = closedAddr
	}
	_, httpPort, _ := net.SplitHostPort(httpSock.addr) // an address net made: it splits
	httpURL := "http://" + net.JoinHostPort(orDefault(r.HTTPHost, "127.0.0.1"), httpPort)
	// The relay finds its own certificate in the certs directory, as `portcullis certs relay`
	// leaves it there.
	stateDir := filepath.Join(s.opts.Dir, "relays", name)
	l := &launch{name: name, args: []string{"cs", "--id", r.ID, "--advertise", advertise, "--cm", s.CMURL,
		"--certs-dir", s.CertsDir(), "--region", r.Region, "--http-advertise", httpURL,
		"--state-dir", stateDir, "--drain-timeout", relayDrainTimeout}}
	for _, ls := range []struct {
		flag string
		sock *socket
	}{{"--listen", tcp}, {"--http-listen", httpSock}, {"--metrics-listen", metrics}} {
		if err := l.listenOn(ls.flag, ls.sock); err != nil {
			return nil, err
		}
	}
	if r.EnrollToken != "" {
		l.args = append(l.args, "--enroll-token", r.EnrollToken)
	}
	l.args = append(l.args, r.Args...)
	p, err := s.spawn(ctx, l)
	if err != nil {
		return nil, err
	}
	p.Addr, p.HTTPAddr, p.MetricsAddr, p.StateDir = tcp.addr, httpURL, metrics.addr, stateDir
	return p, nil
}

// RelayCert issues vendor relay id its own client certificate in the stack's certs directory,
// as `portcullis certs relay --id <id>` does, unless it has one; it returns the files.
func (s *Stack) RelayCert(id string) (certFile, keyFile string, err error) {
	err = certs.IssueRelay(s.CertsDir(), id, certs.RelayOptions{Algorithm: certs.AlgP384})
	if err != nil && !errors.Is(err, certs.ErrExists) {
		return "", "", fmt.Errorf("localstack: relay %s's certificate: %w", id, err)
	}
	return filepath.Join(s.CertsDir(), certs.RelayCertFile(id)), filepath.Join(s.CertsDir(), certs.RelayKeyFile(id)), nil
}

// RelayToken has admin create a relay enrollment token for a tenant's private relay.
func (s *Stack) RelayToken(ctx context.Context, admin User, tenant string) (string, error) {
	var tok api.EnrollmentTokenResponse
	req := api.EnrollmentTokenRequest{Tenant: tenant, Kind: "relay"}
	if err := api.Call(ctx, admin.Client, http.MethodPost, s.CMURL+api.PathEnrollmentTokens, admin.IDToken, req, &tok); err != nil {
		return "", fmt.Errorf("localstack: relay enrollment token for %s: %w", tenant, err)
	}
	return tok.Token, nil
}

// WaitRelays waits until the CM lists every named relay.
func (s *Stack) WaitRelays(ctx context.Context, admin User, ids ...string) error {
	return s.waitFor(ctx, func() bool {
		var relays []api.RelayInfo
		if api.Call(ctx, admin.Client, http.MethodGet, s.CMURL+api.PathRelays, admin.IDToken, nil, &relays) != nil {
			return false
		}
		seen := map[string]bool{}
		for _, r := range relays {
			seen[r.ID] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

// orDefault returns s, or d when s is empty.
func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
