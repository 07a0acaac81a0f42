package endpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/relay/relayhttp"
	"github.com/portcullis/portcullis/ticket"
)

func TestTransportsAreTriedInThePreferredOrder(t *testing.T) {
	withHTTP := api.RelayAddr{ID: "cs-1", Addr: "cs:1970", HTTPAddr: "http://cs:80"}
	tcpOnly := api.RelayAddr{ID: "cs-2", Addr: "cs:1970"}
	cases := []struct {
		preferred string
		rel       api.RelayAddr
		want      []string
	}{
		{"", withHTTP, []string{TransportTCP, TransportHTTP}},
		{PreferAuto, withHTTP, []string{TransportTCP, TransportHTTP}},
		{PreferAuto, tcpOnly, []string{TransportTCP}},
		{TransportTCP, withHTTP, []string{TransportTCP}},
		{TransportHTTP, withHTTP, []string{TransportHTTP}},
	}
	for _, tc := range cases {
		if got := (RelayDialer{Preferred: tc.preferred}).transports(tc.rel); !slices.Equal(got, tc.want) {
			t.Errorf("preferred %q, relay %s: %v, want %v", tc.preferred, tc.rel.ID, got, tc.want)
		}
	}
	for _, p := range []string{"", "auto", "tcp", "http"} {
		if err := ValidatePreferred(p); err != nil {
			t.Errorf("ValidatePreferred(%q) = %v", p, err)
		}
	}
	if err := ValidatePreferred("udp"); err == nil {
		t.Error("ValidatePreferred accepted udp")
	}
}

func TestProbesTimeTCPThenTheHTTPPingAndMarkTheUnreachable(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	closed := closedAddr(t)
	ping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != relayhttp.PathPing {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ping.Close()
	got := RelayDialer{}.Probe(context.Background(), []api.RelayAddr{
		{ID: "tcp-up", Addr: tcp.Addr().String()},
		{ID: "tcp-blocked-http-up", Addr: closed, HTTPAddr: ping.URL},
		{ID: "down", Addr: closed},
	})
	if got["tcp-up"] <= 0 || got["tcp-up"] >= unreachableMS || got["tcp-blocked-http-up"] <= 0 || got["tcp-blocked-http-up"] >= unreachableMS {
		t.Errorf("reachable relays measured %v", got)
	}
	if got["down"] != unreachableMS {
		t.Errorf("an unreachable relay measured %d ms, want %d", got["down"], unreachableMS)
	}
}

func TestAnUnreachableRelayIsRetriedElsewhereButARefusedTicketIsNot(t *testing.T) {
	rel := api.RelayAddr{ID: "cs-down", Addr: closedAddr(t)}
	_, _, err := RelayDialer{}.Dial(context.Background(), rel, testTicket(t))
	if !errors.Is(err, ErrUnreachable) || !RetryElsewhere(err) {
		t.Fatalf("dial to a closed port: %v, want ErrUnreachable, retried elsewhere", err)
	}
	for _, code := range []string{string(access.ErrPairTimeout), string(access.ErrOverloaded), string(access.ErrShuttingDown), string(access.ErrSourceBusy)} {
		if !RetryElsewhere(&relay.RefusedError{Code: code}) {
			t.Errorf("refusal %s is not retried elsewhere", code)
		}
	}
	if RetryElsewhere(&relay.RefusedError{Code: "replayed"}) {
		t.Error("a replayed ticket would be retried elsewhere")
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testTicket mints a well-formed guest ticket (Dial reads its role before dialing).
func testTicket(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := (&ticket.Signer{KeyID: "k1", Key: priv}).Mint(ticket.Claims{
		ID: ticket.NewID(), SessionID: "ses-1", Role: access.RoleGuest, Audience: "cs-down",
		Subject: "alice@example.com", HostID: "h1", IssuedAt: now, Expiry: now.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestAHungRelayIsGivenUpWithinTheConnectTimeout: a relay that accepts TCP but never answers
// (SIGSTOP) is given up once, within ConnectTimeout, after both transports were tried.
func TestAHungRelayIsGivenUpWithinTheConnectTimeout(t *testing.T) {
	hung, err := net.Listen("tcp", "127.0.0.1:0") // the kernel accepts; nobody answers
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	httpTried := make(chan struct{}, 1)
	release := make(chan struct{})
	hungHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case httpTried <- struct{}{}:
		default:
		}
		<-release
	}))
	defer hungHTTP.Close()
	defer close(release)
	rel := api.RelayAddr{ID: "cs-hung", Addr: hung.Addr().String(), HTTPAddr: hungHTTP.URL}
	const timeout = time.Second
	start := time.Now()
	_, _, err = RelayDialer{ConnectTimeout: timeout}.Dial(context.Background(), rel, testTicket(t))
	took := time.Since(start)
	if !errors.Is(err, ErrUnreachable) || !RetryElsewhere(err) {
		t.Fatalf("dial to a hung relay: %v, want ErrUnreachable", err)
	}
	select {
	case <-httpTried:
	default:
		t.Fatal("the HTTP fallback was not tried beside the hung TLS handshake")
	}
	if took < timeout || took > 3*timeout {
		t.Fatalf("gave up after %v, want the connect timeout %v (bounded, not per transport)", took, timeout)
	}
}
