package relayhttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/squidtest"
	"github.com/portcullis/portcullis/internal/testcert"
	"github.com/portcullis/portcullis/relay"
)

func TestASessionThroughAProxyThatPassesOnlyPlainHTTPCarriesAMebibyteEachWay(t *testing.T) {
	proxies := []struct {
		name  string
		start func(t *testing.T) *squidtest.Proxy
	}{
		{"squid", func(t *testing.T) *squidtest.Proxy { return squidtest.Start(t) }},
		{"tinyproxy", func(t *testing.T) *squidtest.Proxy { return squidtest.StartTinyproxy(t, "") }},
	}
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			f := newFixture(t)
			proxy := p.start(t)
			hc := viaProxy(proxy.URL)
			refusesConnect(t, hc, f.url)

			guest, host := f.pairOver(t, hc, "ses-"+p.name)
			exchange(t, guest, host, mib)
			guest.Close()
			host.Close()
			r := f.report(t)
			if r.Reason != relay.EndClosed || r.BytesGuestToHost != mib || r.BytesHostToGuest != mib {
				t.Fatalf("report %+v, want closed with %d bytes each way", r, mib)
			}
			if r.GuestTransport != "http" || r.HostTransport != "http" {
				t.Fatalf("transports %q/%q, want http/http", r.GuestTransport, r.HostTransport)
			}
			if log := proxy.AccessLog(); !strings.Contains(log, PathSend) || !strings.Contains(log, PathRecv) {
				t.Fatalf("the requests did not pass through %s; its log:\n%s", p.name, log)
			}
		})
	}
}

// refusesConnect checks that the proxy hc goes through is as strict as promised: it refuses a
// CONNECT tunnel to the relay at url.
func refusesConnect(t *testing.T, hc *http.Client, url string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodConnect, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = strings.TrimPrefix(url, "http://")
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the proxy allowed CONNECT")
		}
	}
}

func TestManySmallWritesArriveInOrderDirect(t *testing.T) {
	f := newFixture(t)
	guest, host := f.pairOver(t, NewHTTPClient(), "ses-small")
	go func() {
		for i := range 2000 {
			if _, err := fmt.Fprintf(guest, "%06d\n", i); err != nil {
				return
			}
		}
		_ = guest.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got := readAll(t, host)
	var want strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&want, "%06d\n", i)
	}
	if string(got) != want.String() {
		t.Fatalf("got %d bytes out of order or lost, want %d", len(got), want.Len())
	}
	guest.Close()
	host.Close()
}

func TestATunnelToARelayWithAnotherCertificateNeverPresentsItsTicket(t *testing.T) {
	f := newFixture(t)
	_, otherRoots := testcert.TLS(t) // trusts another certificate, not the CS's
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := Dial(ctx, NewHTTPClient(), f.url, otherRoots, f.ticketFor(t, access.RoleGuest, "ses-wrongkey"))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("Dial to a relay whose certificate does not verify: %v, want an unknown authority", err)
	}
	if st := f.relay.Stats(); st.Pending != 0 || st.Live != 0 {
		t.Fatalf("the relay holds a half after a chunk it could not authenticate: %+v", st)
	}
}

func TestForgedAndMalformedRequestsAreRefused(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, method, path string
		body               string
		want               int
	}{
		{"open with a body too long", http.MethodPost, PathOpen, "\x02abc", http.StatusBadRequest},
		{"open with an old version", http.MethodPost, PathOpen, "\x02", http.StatusBadRequest},
		{"send to no tunnel", http.MethodPost, PathSend + "?s=" + strings.Repeat("0", 32) + "&q=0", "x", http.StatusNotFound},
		{"send with a bad id", http.MethodPost, PathSend + "?s=XYZ&q=0", "x", http.StatusBadRequest},
		{"recv with a bad seq", http.MethodGet, PathRecv + "?s=" + strings.Repeat("0", 32) + "&q=-1&a=0", "", http.StatusBadRequest},
		{"send by GET", http.MethodGet, PathSend + "?s=" + strings.Repeat("0", 32) + "&q=0", "", http.StatusMethodNotAllowed},
		{"ping", http.MethodHead, PathPing, "", http.StatusNoContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}

	// A malformed chunk for a real tunnel is refused and the tunnel goes on.
	conn, err := Open(context.Background(), NewHTTPClient(), f.url, f.client)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := conn.(*tls.Conn).NetConn().(*clientConn).id
	resp, err := http.Post(f.url+PathSend+"?s="+id+"&q=0", "application/octet-stream", strings.NewReader(strings.Repeat("f", 64)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged chunk: status %d, want 400", resp.StatusCode)
	}
	// The genuine hello still reaches the relay, which verifies it and waits for the peer.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = relay.Handshake(ctx, conn, access.RoleGuest, f.ticketFor(t, access.RoleGuest, "ses-forged"))
	}()
	deadline := time.Now().Add(testTimeout)
	for f.relay.Stats().Pending != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the genuine half is not waiting after a forged chunk: %+v", f.relay.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainingRefusesNewTunnelsAndLetsALiveSessionFinish(t *testing.T) {
	f := newFixture(t)
	guest, host := f.pairOver(t, NewHTTPClient(), "ses-drain")
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		drained <- f.relay.Shutdown(ctx)
	}()
	// New tunnels are refused while the live session goes on. A tunnel caught opening as the
	// drain began may be cut instead (its handshake ends in EOF): the next one is refused.
	deadline := time.Now().Add(testTimeout)
	for {
		c, err := Open(context.Background(), NewHTTPClient(), f.url, f.client)
		var refused *relay.RefusedError
		if err != nil && errors.Is(err, access.ErrShuttingDown) && errors.As(err, &refused) {
			break
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("open while draining: %v, want the refusal shutting_down", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	exchange(t, guest, host, 64<<10)
	guest.Close()
	host.Close()
	if err := <-drained; err != nil {
		t.Fatalf("Shutdown after the live session ended: %v", err)
	}
	if r := f.report(t); r.Reason != relay.EndClosed {
		t.Fatalf("the live session ended %q, want closed", r.Reason)
	}
}

func TestAnIdleTunnelBacksOffItsPolling(t *testing.T) {
	f := newFixture(t)
	f.tunnels.Hold = 20 * time.Millisecond // the CS answers empty polls at once, as a proxy cutting long-polls would
	var polls atomic.Int64
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathRecv {
			polls.Add(1)
		}
		f.tunnels.ServeHTTP(w, r)
	}))
	defer counting.Close()
	conn, err := Open(context.Background(), NewHTTPClient(), counting.URL, f.client)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const idle = 3 * time.Second
	time.Sleep(idle)
	// Without backoff each receiver would poll every Hold: idle/Hold*Receivers = 600 polls.
	// With it, the pauses grow to maxIdleBackoff and the count stays far lower.
	if n := polls.Load(); n > 150 {
		t.Fatalf("%d polls in %s of idleness: the polling does not back off", n, idle)
	}
}
