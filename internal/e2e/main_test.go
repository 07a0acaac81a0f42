package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
)

// suite is the system the tests share: one CM, relays and Hosts, started once.
type suite struct {
	bin   string
	c     *localstack.Stack
	tap   *tapProxy
	users map[string]localstack.User
	hosts map[string]*localstack.Proc
}

// the shared system, set by TestMain before any test runs and read-only afterwards.
var sys *suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portcullis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := startSuite(ctx, dir)
	if s != nil && s.c != nil {
		defer s.c.Stop()
	}
	if s != nil && s.tap != nil {
		defer s.tap.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start system:", err)
		if s != nil && s.c != nil {
			for _, n := range []string{"cm", "cs-eu-1", "web-1", "db-1"} {
				fmt.Fprintf(os.Stderr, "--- %s ---\n%s\n", n, s.c.LogOf(n))
			}
		}
		return 1
	}
	sys = s
	return m.Run()
}

func startSuite(ctx context.Context, dir string) (*suite, error) {
	s := &suite{bin: filepath.Join(dir, "portcullis"), users: map[string]localstack.User{}, hosts: map[string]*localstack.Proc{}}
	build := exec.Command("go", "build", "-o", s.bin, "github.com/portcullis/portcullis/cmd/portcullis")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %w\n%s", err, out)
	}
	c, err := localstack.Start(ctx, localstack.Options{Bin: s.bin, Dir: filepath.Join(dir, "sys")})
	if err != nil {
		return nil, err
	}
	s.c = c
	if err := s.startRelay(ctx); err != nil {
		return s, err
	}
	for _, u := range []struct{ email, otp string }{
		{"alice@example.com", "123456"}, {"bob@example.com", ""}, {"carol@example.com", ""},
		{"dave@example.com", ""}, {"mallory@example.com", ""},
	} {
		user, err := c.Login(ctx, u.email, "password", u.otp)
		if err != nil {
			return s, fmt.Errorf("login %s: %w", u.email, err)
		}
		s.users[u.email] = user
	}
	if err := c.WaitRelays(ctx, s.users["dave@example.com"], "cs-eu-1"); err != nil {
		return s, fmt.Errorf("relay registration: %w", err)
	}
	for _, h := range []localstack.HostSpec{
		{Name: "web-1", Tags: map[string]string{"env": "staging", "team": "web"}, Tenant: "acme"},
		{Name: "db-1", Tags: map[string]string{"env": "prod", "team": "data"}, Tenant: "acme"},
	} {
		p, err := c.StartHost(ctx, s.users["dave@example.com"], h)
		if err != nil {
			return s, err
		}
		s.hosts[h.Name] = p
	}
	return s, nil
}

// startRelay starts cs-eu-1 behind a TLS-terminating tap, registered under the tap's address,
// so that the tests see exactly the bytes the CS splices.
func (s *suite) startRelay(ctx context.Context) error {
	tap, err := newTapProxy(s.c.CertsDir())
	if err != nil {
		return err
	}
	s.tap = tap
	p, err := s.c.StartRelay(ctx, localstack.RelaySpec{ID: "cs-eu-1", Region: "eu-north", Advertise: tap.Addr()})
	if err != nil {
		return err
	}
	tap.SetUpstream(p.Addr)
	return nil
}

// guest runs a Guest command as user and returns its stdout, stderr and exit status.
func guest(t *testing.T, user string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	u, ok := sys.users[user]
	if !ok {
		t.Fatalf("no signed-in user %s", user)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := sys.c.Guest(ctx, u, args...)
	var o, e syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// liveDeadline bounds each wait of the live-session stories; it guards against hanging and is
// generous for a loaded machine. The measured times are logged; speed targets are benchmarks'.
const liveDeadline = 30 * time.Second

// waitUntil polls cond until it holds or liveDeadline passes, and returns the time it took.
func waitUntil(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > liveDeadline {
			t.Fatalf("gave up waiting for %s after %v", what, liveDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}
