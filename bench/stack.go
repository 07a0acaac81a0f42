package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/squidtest"
	"github.com/portcullis/portcullis/localstack"
)

// Names of the parts the suite starts.
const (
	relayID   = "cs-bench"
	hostName  = "bench-1"
	adminMail = "dave@example.com"
	userMail  = "alice@example.com"
	password  = "password"
	aliceOTP  = "123456"
)

// hostTags are the bench Host's tags: production, which the ops group may reach with MFA.
var hostTags = map[string]string{"env": "prod", "team": "bench"}

// fastHostName is the Host at the fast encryption level; fastHostTags are its tags: staging,
// which fastPolicy opens to the fast level.
const fastHostName = "bench-fast"

var fastHostTags = map[string]string{"env": "staging", "team": "bench"}

// fastPolicy opens staging to the fast level.
var fastPolicy = policyEdit{`"staging": {"label": "staging", "min_encryption": "high"},`, `"staging": {"label": "staging", "min_encryption": "fast"},`}

// stack is a running Portcullis system: a CM (with a store), one CS, signed-in users and,
// when asked for, a Host agent.
type stack struct {
	c     *localstack.Stack
	relay *localstack.Proc
	admin localstack.User
	user  localstack.User
	host  *localstack.Proc
	// fast is the Host at the fast level (stackSpec.fastHost); nil when not started.
	fast *localstack.Proc
	// pprof is the CM's profile address, "" when profiling is off.
	pprof string
}

// stackSpec says which system startStack starts.
type stackSpec struct {
	bin, dir string
	// dsn is the store ("" for SQLite).
	dsn string
	// replicas > 1 runs that many CMs behind a load balancer (dsn must be PostgreSQL); the bench
	// Host then polls cm-1.
	replicas int
	// withHost starts the bench Host; profile has the CM serve runtime profiles.
	withHost, profile bool
	// fastHost also starts fastHostName, a staging Host at the fast encryption level, under the
	// default policy with staging opened to fast (fastPolicy).
	fastHost bool
	// cmArgs are extra flags of the CM.
	cmArgs []string
}

// startStack starts a CM (or replicas), a CS, signs dave (administrator) and alice (ops, MFA)
// in, and starts the bench Host when asked to. With profile set, the CM serves runtime
// profiles on a loopback port.
func startStack(ctx context.Context, spec stackSpec) (*stack, error) {
	if err := os.MkdirAll(spec.dir, 0o700); err != nil {
		return nil, fmt.Errorf("stack dir: %w", err)
	}
	opts := localstack.Options{Bin: spec.bin, Dir: spec.dir, Store: spec.dsn, Replicas: spec.replicas, CMArgs: spec.cmArgs}
	profile, withHost := spec.profile, spec.withHost
	if spec.fastHost {
		polDir := filepath.Join(spec.dir, "policy")
		if err := writePolicy(polDir, fastPolicy); err != nil {
			return nil, err
		}
		opts.CMArgs = append(opts.CMArgs, "--policy-dir", polDir)
	}
	var pprofAddr string
	if profile {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		opts.CMArgs = append(opts.CMArgs, "--pprof-listen", pprofAddr)
	}
	c, err := localstack.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	s := &stack{c: c, pprof: pprofAddr}
	if err := s.populate(ctx, withHost, spec.fastHost); err != nil {
		c.Stop()
		return nil, err
	}
	return s, nil
}

func (s *stack) populate(ctx context.Context, withHost, fastHost bool) error {
	var err error
	// The HTTP fallback is advertised under squid's alias (a name only the bench's squid
	// resolves): Go never proxies a loopback address, so the throughput section's HTTP path
	// really passes through the proxy. TCP clients use the relay's loopback address as before.
	if s.relay, err = s.c.StartRelay(ctx, localstack.RelaySpec{ID: relayID, Region: "eu-north", HTTPHost: squidtest.Alias}); err != nil {
		return err
	}
	if s.admin, err = s.c.Login(ctx, adminMail, password, ""); err != nil {
		return fmt.Errorf("sign in %s: %w", adminMail, err)
	}
	if s.user, err = s.c.Login(ctx, userMail, password, aliceOTP); err != nil {
		return fmt.Errorf("sign in %s: %w", userMail, err)
	}
	if err := s.c.WaitRelays(ctx, s.admin, relayID); err != nil {
		return fmt.Errorf("relay %s did not register: %w", relayID, err)
	}
	if !withHost {
		return nil
	}
	if len(s.c.ReplicaNames()) > 1 {
		// The Host polls cm-1, so that Guests on another replica reach it only through the store.
		if err := s.c.Route(ctx, s.c.ReplicaNames()[0]); err != nil {
			return err
		}
	}
	if s.host, err = s.c.StartHost(ctx, s.admin, localstack.HostSpec{Name: hostName, Tags: hostTags, Tenant: "acme"}); err != nil || !fastHost {
		return err
	}
	s.fast, err = s.c.StartHost(ctx, s.admin, localstack.HostSpec{Name: fastHostName, Tags: fastHostTags, Tenant: "acme",
		Args: []string{"--encryption", access.LevelFast}})
	return err
}

// stop ends every process of the stack.
func (s *stack) stop() { s.c.Stop() }

// ticketKeyPath is the CM's ticket signing key in the stack's certificates.
func (s *stack) ticketKeyPath() string { return filepath.Join(s.c.CertsDir(), certs.TicketKeyFile) }
