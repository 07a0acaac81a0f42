package relayhttp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/testcert"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/ticket"
)

const (
	testCSID    = "cs-http-test"
	testTimeout = 60 * time.Second
	mib         = 1 << 20
)

// fixture is a relay.Server fed by an HTTP tunnel Server on a real HTTP listener.
type fixture struct {
	relay   *relay.Server
	tunnels *Server
	url     string
	client  *tls.Config // trusts the CS's certificate
	signer  *ticket.Signer
	reports chan relay.SessionReport
}

// newFixture starts the relay and the tunnels, adjusted by configure before they start.
func newFixture(t testing.TB, configure ...func(*fixture)) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := ticket.KeyID(pub)
	serverTLS, clientTLS := testcert.TLS(t)
	f := &fixture{signer: &ticket.Signer{KeyID: kid, Key: priv}, reports: make(chan relay.SessionReport, 16), client: clientTLS}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.relay = &relay.Server{
		ID:           testCSID,
		Verifier:     &ticket.Verifier{Keys: ticket.NewKeySet(map[string]ed25519.PublicKey{kid: pub}), Audience: testCSID, Replay: &ticket.ReplayCache{}},
		Logger:       log,
		OnSessionEnd: func(r relay.SessionReport) { f.reports <- r },
	}
	// The server starts once its handler is set and configured: a request served before
	// would race with that set-up.
	hs := httptest.NewUnstartedServer(nil)
	f.tunnels = NewServer(serverTLS, hs.Listener.Addr())
	f.tunnels.Hold = 2 * time.Second
	f.tunnels.Logger = log
	hs.Config.Handler = f.tunnels
	for _, c := range configure {
		c(f)
	}
	hs.Start()
	f.url = hs.URL
	done := make(chan struct{})
	go f.tunnels.Run(done)
	served := make(chan error, 1)
	go func() { served <- f.relay.Serve(f.tunnels) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := f.relay.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, relay.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		close(done)
		hs.Close()
	})
	return f
}

func (f *fixture) ticketFor(t testing.TB, role access.Role, sid string) string {
	t.Helper()
	now := time.Now()
	raw, err := f.signer.Mint(ticket.Claims{
		ID: ticket.NewID(), SessionID: sid, Role: role, Audience: testCSID, Subject: "alice@example.com",
		HostID: "host-1", IssuedAt: now, Expiry: now.Add(30 * time.Second), DecisionID: "dec-" + sid,
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// viaProxy returns an HTTP client that sends every request through proxy.
func viaProxy(proxy *url.URL) *http.Client {
	hc := NewHTTPClient()
	hc.Transport.(*http.Transport).Proxy = http.ProxyURL(proxy)
	return hc
}

// pairOver dials both halves of session sid through hc and returns them paired.
func (f *fixture) pairOver(t testing.TB, hc *http.Client, sid string) (guest, host net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	type res struct {
		c   net.Conn
		err error
	}
	hostCh := make(chan res, 1)
	go func() {
		c, err := Dial(ctx, hc, f.url, f.client, f.ticketFor(t, access.RoleHost, sid))
		hostCh <- res{c, err}
	}()
	guest, err := Dial(ctx, hc, f.url, f.client, f.ticketFor(t, access.RoleGuest, sid))
	h := <-hostCh
	if err != nil || h.err != nil {
		t.Fatalf("guest Dial: %v; host Dial: %v", err, h.err)
	}
	return guest, h.c
}

// exchange sends n random bytes each way at once, half-closes, and checks both arrive intact.
func exchange(t *testing.T, guest, host net.Conn, n int) {
	t.Helper()
	up, down := randomBytes(t, n), randomBytes(t, n)
	errs := make(chan error, 2)
	for _, p := range []struct {
		c    net.Conn
		data []byte
	}{{guest, up}, {host, down}} {
		go func() {
			_, err := p.c.Write(p.data)
			if err == nil {
				err = p.c.(interface{ CloseWrite() error }).CloseWrite()
			}
			errs <- err
		}()
	}
	gotDown, gotUp := readAll(t, guest), readAll(t, host)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Fatalf("stream corrupted: got %d/%d bytes up, %d/%d down", len(gotUp), len(up), len(gotDown), len(down))
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

func (f *fixture) report(t testing.TB) relay.SessionReport {
	t.Helper()
	select {
	case r := <-f.reports:
		return r
	case <-time.After(testTimeout):
		t.Fatal("no session report")
	}
	return relay.SessionReport{}
}
