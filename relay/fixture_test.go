package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/testcert"
	"github.com/portcullis/portcullis/ticket"
)

const (
	// testCSID is the id (and ticket audience) of the Connection Server under test.
	testCSID = "cs-test"
	// testTimeout guards each blocking test step against hanging; it asserts no speed.
	testTimeout = 30 * time.Second
	// pollInterval is how often waitFor re-reads the server's Stats.
	pollInterval = 5 * time.Millisecond
	// mib is one mebibyte, in bytes.
	mib = 1 << 20
	// testTicketLifetime is the lifetime of tickets the tests mint.
	testTicketLifetime = 30 * time.Second
)

// fixture is a running Server on a real TLS listener on 127.0.0.1, with a ticket signer its
// verifier trusts and a channel of the sessions it reported.
type fixture struct {
	srv     *Server
	addr    string
	client  *tls.Config
	server  *tls.Config
	signer  *ticket.Signer
	reports chan SessionReport

	stopOnce sync.Once
	served   chan error
	serveErr error
}

// newFixture starts a Server (adjusted by configure, if not nil) and shuts it down at cleanup.
func newFixture(t *testing.T, configure func(*Server)) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := ticket.KeyID(pub)
	f := &fixture{
		signer:  &ticket.Signer{KeyID: kid, Key: priv},
		reports: make(chan SessionReport, 64),
		served:  make(chan error, 1),
	}
	f.srv = &Server{
		ID: testCSID,
		Verifier: &ticket.Verifier{
			Keys:     ticket.NewKeySet(map[string]ed25519.PublicKey{kid: pub}),
			Audience: testCSID,
			Replay:   &ticket.ReplayCache{},
		},
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnSessionEnd: func(r SessionReport) { f.reports <- r },
	}
	if configure != nil {
		configure(f.srv)
	}
	f.server, f.client = testTLS(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(GatheringListener(raw), f.server) // as the CS listens
	f.addr = ln.Addr().String()
	go func() { f.served <- f.srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := f.shutdown(t, testTimeout); err != nil {
			t.Errorf("Shutdown at cleanup: %v", err)
		}
		if err := f.serveResult(); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return f
}

// shutdown calls Shutdown with a context that ends after d.
func (f *fixture) shutdown(t *testing.T, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return f.srv.Shutdown(ctx)
}

// serveResult waits for Serve to return and gives its result (any number of times).
func (f *fixture) serveResult() error {
	f.stopOnce.Do(func() { f.serveErr = <-f.served })
	return f.serveErr
}

// testTLS returns a server TLS config with a fresh self-signed certificate for 127.0.0.1 and a
// client config that trusts it, both TLS 1.3 only.
func testTLS(t *testing.T) (server, client *tls.Config) {
	server, client = testcert.TLS(t)
	server.MinVersion, client.MinVersion = tls.VersionTLS13, tls.VersionTLS13
	return server, client
}

// claimsAt returns valid claims for one half of session sid, issued at now.
func claimsAt(role access.Role, sid string, now time.Time) ticket.Claims {
	return ticket.Claims{
		ID:         ticket.NewID(),
		SessionID:  sid,
		Role:       role,
		Audience:   testCSID,
		Subject:    "alice@example.com",
		HostID:     "host-web-1",
		IssuedAt:   now,
		Expiry:     now.Add(testTicketLifetime),
		DecisionID: "decision-" + sid,
	}
}

// mint signs c with s.
func mint(t *testing.T, s *ticket.Signer, c ticket.Claims) string {
	t.Helper()
	raw, err := s.Mint(c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return raw
}

// ticketFor mints a valid ticket, from the trusted signer, for one half of session sid.
func (f *fixture) ticketFor(t *testing.T, role access.Role, sid string) string {
	return mint(t, f.signer, claimsAt(role, sid, time.Now()))
}

// dial runs Dial against the fixture's server.
func (f *fixture) dial(t *testing.T, rawTicket string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	conn, err := Dial(ctx, f.addr, f.client, rawTicket)
	if err == nil {
		t.Cleanup(func() { _ = conn.Close() })
	}
	return conn, err
}

// dialResult is the outcome of a dial run in the background.
type dialResult struct {
	conn net.Conn
	err  error
}

// dialAsync runs dial in the background, for a half that waits for its peer.
func (f *fixture) dialAsync(t *testing.T, rawTicket string) <-chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		conn, err := f.dial(t, rawTicket)
		ch <- dialResult{conn, err}
	}()
	return ch
}

// mustDial dials and fails the test if the half is not paired.
func (f *fixture) mustDial(t *testing.T, rawTicket string) net.Conn {
	t.Helper()
	conn, err := f.dial(t, rawTicket)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return conn
}

// await receives a background dial's result and fails the test if the half was not paired.
func await(t *testing.T, ch <-chan dialResult) net.Conn {
	t.Helper()
	r := <-ch
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	return r.conn
}

// pair connects the host half (first) and the guest half of session sid.
func (f *fixture) pair(t *testing.T, sid string) (guest, host net.Conn) {
	t.Helper()
	hostCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, sid))
	f.waitFor(t, "the host half to wait", func(s Stats) bool { return s.Pending == 1 })
	guest = f.mustDial(t, f.ticketFor(t, access.RoleGuest, sid))
	return guest, await(t, hostCh)
}

// waitFor polls the server's Stats until cond holds.
func (f *fixture) waitFor(t *testing.T, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond(f.srv.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; stats %+v", what, f.srv.Stats())
		}
		time.Sleep(pollInterval)
	}
}

// report receives the next session report.
func (f *fixture) report(t *testing.T) SessionReport {
	t.Helper()
	select {
	case r := <-f.reports:
		return r
	case <-time.After(testTimeout):
		t.Fatal("no session report")
	}
	return SessionReport{}
}

// wantRefused checks that err is a refusal with code that errors.Is matches want.
func wantRefused[C ~string](t *testing.T, err error, code C, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("error %v, want errors.Is %v", err, want)
	}
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("error %v is not a *RefusedError", err)
	}
	if refused.Code != string(code) {
		t.Errorf("refusal code %q, want %q", refused.Code, code)
	}
}

// readAll reads conn until EOF (the peer's half-close), bounded by testTimeout.
func readAll(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Errorf("reading until EOF: %v", err)
	}
	return b
}

// send writes b then half-closes conn.
func send(t *testing.T, conn net.Conn, b []byte) {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Errorf("write: %v", err)
	}
	if err := conn.(*tls.Conn).CloseWrite(); err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
}
