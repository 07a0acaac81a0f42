package host

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/internal/testcert"
	"github.com/portcullis/portcullis/ticket"
)

// Test identities of the Host's ticket tests.
const (
	testHostID  = "h-this"
	testRelayID = "cs-eu-1"
)

// ticketCM stands for the CM in the Host's ticket tests: it publishes its ticket key at
// GET /v1/ticket-keys (real keys, real JSON) and records the Hosts' session-end reports.
type ticketCM struct {
	signer  *ticket.Signer
	srv     *httptest.Server
	mu      sync.Mutex
	reports []api.HostSessionEnd
	fetches int
}

func newTicketCM(t *testing.T) *ticketCM {
	t.Helper()
	cm := &ticketCM{signer: newTicketSigner(t)}
	pub := cm.signer.Key.Public().(ed25519.PublicKey)
	keys := ticket.NewKeySet(map[string]ed25519.PublicKey{cm.signer.KeyID: pub})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathTicketKeys, func(w http.ResponseWriter, _ *http.Request) {
		cm.mu.Lock()
		cm.fetches++
		cm.mu.Unlock()
		_ = json.NewEncoder(w).Encode(keys)
	})
	mux.HandleFunc("POST "+api.PathHostSessionEnd, func(w http.ResponseWriter, r *http.Request) {
		var end api.HostSessionEnd
		_ = json.NewDecoder(r.Body).Decode(&end)
		cm.mu.Lock()
		cm.reports = append(cm.reports, end)
		cm.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	cm.srv = httptest.NewTLSServer(mux)
	t.Cleanup(cm.srv.Close)
	return cm
}

// newTicketSigner returns a signer with a fresh Ed25519 key.
func newTicketSigner(t *testing.T) *ticket.Signer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ticket.Signer{KeyID: ticket.KeyID(pub), Key: key}
}

// reported returns the reports received so far.
func (cm *ticketCM) reported() []api.HostSessionEnd {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	return append([]api.HostSessionEnd(nil), cm.reports...)
}

// hostTicketClaims are the claims of a genuine Host ticket of session sid, for testRelayID.
func hostTicketClaims(sid string) ticket.Claims {
	return ticket.Claims{ID: ticket.NewID(), SessionID: sid, Role: access.RoleHost, Audience: testRelayID,
		HostID: testHostID, Subject: "alice@example.com", Expiry: time.Now().Add(30 * time.Second),
		Obligations: access.Obligations{MaxDurationSeconds: 3600, MinEncryption: access.LevelVeryHigh, Channels: []string{"sftp"}, RequireConfirm: true}}
}

// mintTicket signs c with s.
func mintTicket(t *testing.T, s *ticket.Signer, c ticket.Claims) string {
	t.Helper()
	raw, err := s.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tamper re-encodes raw's payload after edit, keeping its key id and signature.
func tamper(t *testing.T, raw string, edit func(map[string]any)) string {
	t.Helper()
	f := strings.Split(raw, ".")
	enc := base64.RawURLEncoding
	payload, err := enc.DecodeString(f[2])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if payload, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	f[2] = enc.EncodeToString(payload)
	return strings.Join(f, ".")
}

// ticketHost is an enrolled Host (id testHostID) whose CM is cm, and a relay listener it is
// told to dial; log collects the Host's logs.
type ticketHost struct {
	agent *Agent
	rt    *hostRuntime
	relay net.Listener
	log   *syncbuf.Buffer
}

func newTicketHost(t *testing.T, cm *ticketCM) *ticketHost {
	t.Helper()
	f := newFixture(t)
	serverTLS, clientTLS := testcert.TLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	buf := &syncbuf.Buffer{}
	h := &Agent{CMURL: cm.srv.URL, Logger: slog.New(slog.NewTextHandler(buf, nil))}
	rt := &hostRuntime{signer: f.HostKey, userCA: f.CA.PublicKey(), state: hostState{HostID: testHostID, Name: "h"},
		dialer: endpoint.RelayDialer{Preferred: endpoint.TransportTCP, TLS: clientTLS}}
	rt.client.Store(cm.srv.Client())
	rt.tickets = h.ticketKeys(rt)
	return &ticketHost{agent: h, rt: rt, relay: ln, log: buf}
}

// request is a connection request for session sid that sends the Host to its relay.
func (th *ticketHost) request(sid, raw string) api.HostRequest {
	return api.HostRequest{SessionID: sid, Ticket: raw, Subject: "alice@example.com",
		Relay: api.RelayAddr{ID: testRelayID, Addr: th.relay.Addr().String()}}
}

// dialed reports whether the Host reached the relay within wait.
func (th *ticketHost) dialed(t *testing.T, wait time.Duration) bool {
	t.Helper()
	done := make(chan net.Conn, 1)
	go func() {
		c, err := th.relay.Accept()
		if err != nil {
			c = nil
		}
		done <- c
	}()
	select {
	case c := <-done:
		if c != nil {
			_ = c.Close()
			return true
		}
		return false
	case <-time.After(wait):
		return false
	}
}

// Every ticket the Host must not act on: whoever answers its long-poll as the CM cannot make it
// dial a relay, serve the ticket's obligations or skip local confirmation without a ticket the
// CM signed for this Host, this session and that relay, valid now.
func TestTheHostRefusesATicketThatDoesNotVerify(t *testing.T) {
	cm := newTicketCM(t)
	const sid = "ses-1"
	cases := []struct {
		name string
		req  func(th *ticketHost) api.HostRequest
		want access.Code
	}{
		{"signed by a key the CM never published, granting every channel", func(th *ticketHost) api.HostRequest {
			c := hostTicketClaims(sid)
			c.Obligations.Channels = []string{"shell", "exec", "sftp", "forward"}
			return th.request(sid, mintTicket(t, newTicketSigner(t), c))
		}, access.ErrUnknownKey},
		{"signed by a foreign key under the CM's key id", func(th *ticketHost) api.HostRequest {
			forger := newTicketSigner(t)
			forger.KeyID = cm.signer.KeyID
			return th.request(sid, mintTicket(t, forger, hostTicketClaims(sid)))
		}, access.ErrBadSignature},
		{"unsigned (the signature is garbage)", func(th *ticketHost) api.HostRequest {
			raw := mintTicket(t, cm.signer, hostTicketClaims(sid))
			cut := strings.LastIndex(raw, ".")
			return th.request(sid, raw[:cut+1]+base64.RawURLEncoding.EncodeToString(make([]byte, ed25519.SignatureSize)))
		}, access.ErrBadSignature},
		{"tampered obligations: every channel and no confirmation", func(th *ticketHost) api.HostRequest {
			raw := mintTicket(t, cm.signer, hostTicketClaims(sid))
			return th.request(sid, tamper(t, raw, func(m map[string]any) {
				obl := m["obl"].(map[string]any)
				obl["channels"] = []string{"shell", "exec", "sftp", "forward"}
				obl["require_confirm"] = false
			}))
		}, access.ErrBadSignature},
		{"the Guest's ticket of the session", func(th *ticketHost) api.HostRequest {
			c := hostTicketClaims(sid)
			c.Role = access.RoleGuest
			return th.request(sid, mintTicket(t, cm.signer, c))
		}, access.ErrWrongRole},
		{"another Host's ticket", func(th *ticketHost) api.HostRequest {
			c := hostTicketClaims(sid)
			c.HostID = "h-other"
			return th.request(sid, mintTicket(t, cm.signer, c))
		}, access.ErrWrongAudience},
		{"a ticket for another relay than the one to dial", func(th *ticketHost) api.HostRequest {
			c := hostTicketClaims(sid)
			c.Audience = "cs-us-1"
			return th.request(sid, mintTicket(t, cm.signer, c))
		}, access.ErrWrongAudience},
		{"a request that names no relay id", func(th *ticketHost) api.HostRequest {
			req := th.request(sid, mintTicket(t, cm.signer, hostTicketClaims(sid)))
			req.Relay.ID = ""
			return req
		}, access.ErrWrongAudience},
		{"a ticket of another session", func(th *ticketHost) api.HostRequest {
			return th.request(sid, mintTicket(t, cm.signer, hostTicketClaims("ses-other")))
		}, access.ErrWrongAudience},
		{"an expired ticket (beyond the relay's clock skew)", func(th *ticketHost) api.HostRequest {
			c := hostTicketClaims(sid)
			c.IssuedAt = time.Now().Add(-time.Minute)
			c.Expiry = time.Now().Add(-ticket.DefaultSkew - 2*time.Second)
			return th.request(sid, mintTicket(t, cm.signer, c))
		}, access.ErrExpired},
		{"a ticket not valid yet", func(th *ticketHost) api.HostRequest {
			c := hostTicketClaims(sid)
			c.NotBefore = time.Now().Add(ticket.DefaultSkew + 10*time.Second)
			c.IssuedAt, c.Expiry = c.NotBefore, c.NotBefore.Add(30*time.Second)
			return th.request(sid, mintTicket(t, cm.signer, c))
		}, access.ErrNotYetValid},
		{"not a ticket", func(th *ticketHost) api.HostRequest { return th.request(sid, "v1.x.y.z") }, access.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			th := newTicketHost(t, cm)
			before := len(cm.reported())
			th.agent.serve(t.Context(), th.rt, tc.req(th)) // returns once it refused
			if th.dialed(t, 200*time.Millisecond) {
				t.Fatal("the Host dialed the relay on a ticket that does not verify")
			}
			if !strings.Contains(th.log.String(), "code="+string(tc.want)) {
				t.Errorf("the Host's log does not name code %s:\n%s", tc.want, th.log)
			}
			got := cm.reported()[before:]
			want := api.HostSessionEnd{SessionID: sid, Reason: ReasonPrefixHostRefused + string(tc.want)}
			if len(got) != 1 || got[0] != want {
				t.Errorf("reports to the CM = %+v, want [%+v]", got, want)
			}
		})
	}
}

// A genuine ticket still takes the Host to its relay, and the keys are fetched once.
func TestTheHostDialsTheRelayOnAGenuineTicket(t *testing.T) {
	cm := newTicketCM(t)
	th := newTicketHost(t, cm)
	done := make(chan struct{})
	go func() {
		defer close(done)
		th.agent.serve(t.Context(), th.rt, th.request("ses-1", mintTicket(t, cm.signer, hostTicketClaims("ses-1"))))
	}()
	if !th.dialed(t, testTimeout) {
		t.Fatalf("the Host did not dial the relay on a genuine ticket; its log:\n%s", th.log)
	}
	<-done
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if cm.fetches != 1 {
		t.Errorf("%d fetches of the ticket keys, want 1", cm.fetches)
	}
}

// A Host whose runtime has no ticket keys at all (no KeySource) refuses every ticket.
func TestAHostWithoutTicketKeysRefusesEveryTicket(t *testing.T) {
	cm := newTicketCM(t)
	th := newTicketHost(t, cm)
	th.rt.tickets = nil
	_, err := th.rt.verifyTicket(t.Context(), th.request("ses-1", mintTicket(t, cm.signer, hostTicketClaims("ses-1"))))
	if !errors.Is(err, access.ErrUnknownKey) {
		t.Fatalf("verifyTicket = %v, want %v", err, access.ErrUnknownKey)
	}
}
