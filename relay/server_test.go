package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/slowconn"
	"github.com/portcullis/portcullis/ticket"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGuestAndHostExchangeAMebibyteEachWayIntact(t *testing.T) {
	f := newFixture(t, nil)
	guest, host := f.pair(t, "sess-both-ways")
	exchange(t, guest, host)
	_ = guest.Close()
	_ = host.Close()

	r := f.report(t)
	want := SessionReport{SessionID: "sess-both-ways", BytesGuestToHost: mib, BytesHostToGuest: mib, Reason: EndClosed}
	if r.SessionID != want.SessionID || r.BytesGuestToHost != want.BytesGuestToHost ||
		r.BytesHostToGuest != want.BytesHostToGuest || r.Reason != want.Reason {
		t.Errorf("report %+v, want %+v", r, want)
	}
	if r.Ended.Before(r.Started) {
		t.Errorf("session ended %v before it started %v", r.Ended, r.Started)
	}
	if s := f.srv.Stats(); s != (Stats{Bytes: 2 * mib}) {
		t.Errorf("stats after the session %+v, want no live or pending and %d bytes", s, 2*mib)
	}
}

func TestHalfCloseReachesThePeerAndTheOtherDirectionStaysOpen(t *testing.T) {
	f := newFixture(t, nil)
	guest, host := f.pair(t, "sess-half-close")

	send(t, guest, []byte("request"))
	if got := readAll(t, host); string(got) != "request" {
		t.Fatalf("host read %q until EOF, want %q", got, "request")
	}
	// The guest has finished sending, yet the host can still answer it.
	send(t, host, []byte("response"))
	if got := readAll(t, guest); string(got) != "response" {
		t.Fatalf("guest read %q until EOF, want %q", got, "response")
	}

	r := f.report(t)
	if r.Reason != EndClosed || r.BytesGuestToHost != int64(len("request")) || r.BytesHostToGuest != int64(len("response")) {
		t.Errorf("report %+v, want closed with 7 bytes up and 8 down", r)
	}
}

// badTicketCase builds, for session sid, a half that the CS must refuse with code.
type badTicketCase struct {
	name string
	code string
	want error
	// half returns the role the bad endpoint claims and the ticket it presents.
	half func(t *testing.T, f *fixture, sid string) (access.Role, string)
}

func badTicketCases() []badTicketCase {
	guestClaims := func(sid string, now time.Time, edit func(*ticket.Claims)) ticket.Claims {
		c := claimsAt(access.RoleGuest, sid, now)
		if edit != nil {
			edit(&c)
		}
		return c
	}
	otherKey := func(t *testing.T) ed25519.PrivateKey {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return priv
	}
	shifted := func(f *fixture, by time.Duration) *ticket.Signer {
		return &ticket.Signer{KeyID: f.signer.KeyID, Key: f.signer.Key, Now: func() time.Time { return time.Now().Add(by) }}
	}
	return []badTicketCase{
		{"signed by another key under the trusted key id", "bad_signature", access.ErrBadSignature,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				forger := &ticket.Signer{KeyID: f.signer.KeyID, Key: otherKey(t)}
				return access.RoleGuest, mint(t, forger, guestClaims(sid, time.Now(), nil))
			}},
		{"signed by a key the CS does not know", "unknown_key", access.ErrUnknownKey,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				key := otherKey(t)
				stranger := &ticket.Signer{KeyID: ticket.KeyID(key.Public().(ed25519.PublicKey)), Key: key}
				return access.RoleGuest, mint(t, stranger, guestClaims(sid, time.Now(), nil))
			}},
		{"expired", "expired", access.ErrExpired,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				past := -2 * time.Minute
				return access.RoleGuest, mint(t, shifted(f, past), guestClaims(sid, time.Now().Add(past), nil))
			}},
		{"not yet valid", "not_yet_valid", access.ErrNotYetValid,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				future := 2 * time.Minute
				return access.RoleGuest, mint(t, shifted(f, future), guestClaims(sid, time.Now().Add(future), nil))
			}},
		{"for another connection server", "wrong_audience", access.ErrWrongAudience,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				return access.RoleGuest, mint(t, f.signer, guestClaims(sid, time.Now(), func(c *ticket.Claims) { c.Audience = "cs-elsewhere" }))
			}},
		{"a host ticket presented as the guest", "wrong_role", access.ErrWrongRole,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				return access.RoleGuest, f.ticketFor(t, access.RoleHost, sid)
			}},
		{"malformed", "malformed", access.ErrMalformed,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				return access.RoleGuest, "v1." + f.signer.KeyID + ".bm90LWNsYWltcw.c2ln"
			}},
		{"replayed after its session ended", "replayed", access.ErrReplayed,
			func(t *testing.T, f *fixture, sid string) (access.Role, string) {
				used := f.ticketFor(t, access.RoleGuest, sid)
				hostCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, sid))
				f.waitFor(t, "the first host half to wait", func(s Stats) bool { return s.Pending == 1 })
				guest := f.mustDial(t, used)
				host := await(t, hostCh)
				send(t, guest, []byte("first"))
				readAll(t, host)
				send(t, host, nil)
				readAll(t, guest)
				if r := f.report(t); r.SessionID != sid {
					t.Fatalf("first session report %+v", r)
				}
				return access.RoleGuest, used
			}},
	}
}

// TestBadTicketsAreRefusedWithTheirCodeAndNeverSpliced runs each bad ticket against a session
// whose host half is waiting: the bad guest is refused with the reason's code, sends bytes
// anyway, and the host later receives exactly what the legitimate guest sends and nothing else.
func TestBadTicketsAreRefusedWithTheirCodeAndNeverSpliced(t *testing.T) {
	for _, tc := range badTicketCases() {
		t.Run(tc.code, func(t *testing.T) {
			f := newFixture(t, nil)
			sid := "sess-" + tc.code
			role, raw := tc.half(t, f, sid)

			hostCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, sid))
			f.waitFor(t, "the host half to wait", func(s Stats) bool { return s.Pending == 1 })

			err := handshakeThenTalk(t, f, role, raw, []byte("EVIL"))
			wantRefused(t, err, tc.code, tc.want)
			if got := access.CodeOf(tc.want); string(got) != tc.code {
				t.Errorf("access.CodeOf(%v) = %q, want %q", tc.want, got, tc.code)
			}
			if s := f.srv.Stats(); s.Live != 0 || s.Pending != 1 {
				t.Fatalf("after the refusal: stats %+v, want the host still waiting and nothing live", s)
			}

			guest := f.mustDial(t, f.ticketFor(t, access.RoleGuest, sid))
			host := await(t, hostCh)
			send(t, guest, []byte("GOOD"))
			if got := readAll(t, host); string(got) != "GOOD" {
				t.Errorf("host received %q, want exactly the legitimate guest's %q", got, "GOOD")
			}
			send(t, host, nil)
			readAll(t, guest)
			if r := f.report(t); r.BytesGuestToHost != int64(len("GOOD")) || r.BytesHostToGuest != 0 {
				t.Errorf("report %+v, want 4 bytes up and none down", r)
			}
		})
	}
}

// handshakeThenTalk performs the client handshake for role with rawTicket on a fresh TLS
// connection and, whatever the answer, writes extra as if it were session bytes.
func handshakeThenTalk(t *testing.T, f *fixture, role access.Role, rawTicket string, extra []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	d := tls.Dialer{Config: f.client}
	conn, err := d.DialContext(ctx, "tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = Handshake(ctx, conn, role, rawTicket)
	_, _ = conn.Write(extra)
	return err
}

func TestBadHellosAreRefusedWithBadHello(t *testing.T) {
	validTicket := "v1.kid.cGF5bG9hZA.c2ln"
	helloWith := func(edit func([]byte) []byte) []byte {
		p, err := appendHello(nil, access.RoleGuest, validTicket, false)
		if err != nil {
			t.Fatal(err)
		}
		return frameBytes(t, frameHello, edit(p))
	}
	cases := []struct {
		name string
		sent []byte
	}{
		{"nothing within the handshake timeout", nil},
		{"another frame type first", frameBytes(t, framePaired, nil)},
		{"wrong magic", helloWith(func(p []byte) []byte { p[0] = 'X'; return p })},
		{"unsupported version", helloWith(func(p []byte) []byte { p[len(magic)] = ProtocolVersion + 1; return p })},
		{"unknown role", helloWith(func(p []byte) []byte { p[len(magic)+1] = 0x7f; return p })},
		{"no ticket", helloWith(func(p []byte) []byte { return p[:helloFixedLen] })},
		{"control byte in the ticket", helloWith(func(p []byte) []byte { p[len(p)-1] = '\n'; return p })},
		{"length above the limit", frameHeader(frameHello, uint32(maxHelloLen+1))},
		{"an HTTP request", []byte("GET / HTTP/1.1\r\nHost: cs\r\n\r\n")},
	}
	f := newFixture(t, func(s *Server) { s.HandshakeTimeout = 300 * time.Millisecond })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", f.addr, f.client)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if len(tc.sent) > 0 {
				if _, err := conn.Write(tc.sent); err != nil {
					t.Fatal(err)
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
			typ, p, err := readFrame(conn, maxResponseLen, ErrProtocol)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if typ != frameRefused || access.Code(p) != access.ErrBadHello {
				t.Fatalf("answer frame 0x%02x %q, want refused %q", byte(typ), p, access.ErrBadHello)
			}
			if b := readAll(t, conn); len(b) != 0 {
				t.Errorf("after the refusal the CS sent %q, want it to close", b)
			}
		})
	}
	if s := f.srv.Stats(); s != (Stats{}) {
		t.Errorf("stats %+v, want nothing pending or live", s)
	}
}

// frameHeader returns a frame header of type t announcing n payload bytes.
func frameHeader(t frameType, n uint32) []byte {
	return []byte{byte(t), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// frameBytes returns the complete frame of type typ with payload p.
func frameBytes(t *testing.T, typ frameType, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeFrame(&b, typ, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAHalfWhosePeerNeverComesIsRefusedWithPairTimeout(t *testing.T) {
	f := newFixture(t, func(s *Server) { s.PairTimeout = 200 * time.Millisecond })
	_, err := f.dial(t, f.ticketFor(t, access.RoleHost, "sess-lonely"))
	wantRefused(t, err, access.ErrPairTimeout, access.ErrPairTimeout)
	if s := f.srv.Stats(); s.Pending != 0 || s.Live != 0 {
		t.Errorf("stats %+v, want the timed-out half forgotten", s)
	}
}

func TestASecondHalfOfTheSameRoleIsRefusedAsDuplicate(t *testing.T) {
	f := newFixture(t, nil)
	sid := "sess-duplicate"
	hostCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, sid))
	f.waitFor(t, "the host half to wait", func(s Stats) bool { return s.Pending == 1 })

	_, err := f.dial(t, f.ticketFor(t, access.RoleHost, sid))
	wantRefused(t, err, access.ErrDuplicateHalf, access.ErrDuplicateHalf)

	guest := f.mustDial(t, f.ticketFor(t, access.RoleGuest, sid))
	host := await(t, hostCh)

	// Once the session is live, any further half of it is a duplicate too.
	_, err = f.dial(t, f.ticketFor(t, access.RoleGuest, sid))
	wantRefused(t, err, access.ErrDuplicateHalf, access.ErrDuplicateHalf)

	send(t, guest, []byte("still the first pair"))
	if got := readAll(t, host); string(got) != "still the first pair" {
		t.Errorf("host received %q", got)
	}
	send(t, host, nil)
	readAll(t, guest)
	if r := f.report(t); r.SessionID != sid || r.Reason != EndClosed {
		t.Errorf("report %+v", r)
	}
}

func TestHalvesBeyondMaxPendingAreRefusedAsOverloaded(t *testing.T) {
	f := newFixture(t, func(s *Server) { s.MaxPending = 1 })
	hostCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, "sess-a"))
	f.waitFor(t, "the first host half to wait", func(s Stats) bool { return s.Pending == 1 })

	_, err := f.dial(t, f.ticketFor(t, access.RoleHost, "sess-b"))
	wantRefused(t, err, access.ErrOverloaded, access.ErrOverloaded)

	// Completing a waiting session needs no pending slot.
	guest := f.mustDial(t, f.ticketFor(t, access.RoleGuest, "sess-a"))
	host := await(t, hostCh)
	send(t, guest, []byte("ok"))
	if got := readAll(t, host); string(got) != "ok" {
		t.Errorf("host received %q", got)
	}
}

func TestShutdownRefusesWaitingHalvesAndLetsLiveSessionsFinish(t *testing.T) {
	f := newFixture(t, nil)
	guest, host := f.pair(t, "sess-live")
	waitingCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, "sess-waiting"))
	f.waitFor(t, "one live and one waiting", func(s Stats) bool { return s.Live == 1 && s.Pending == 1 })

	shutdown := make(chan error, 1)
	go func() { shutdown <- f.shutdown(t, testTimeout) }()

	r := <-waitingCh
	wantRefused(t, r.err, access.ErrShuttingDown, access.ErrShuttingDown)
	if err := f.serveResult(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if _, err := f.dial(t, f.ticketFor(t, access.RoleGuest, "sess-late")); err == nil {
		t.Error("a new half was accepted after Shutdown")
	}

	// The live session still carries bytes both ways until its halves are done.
	send(t, guest, []byte("last words"))
	if got := readAll(t, host); string(got) != "last words" {
		t.Errorf("host received %q", got)
	}
	send(t, host, []byte("goodbye"))
	if got := readAll(t, guest); string(got) != "goodbye" {
		t.Errorf("guest received %q", got)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if rep := f.report(t); rep.SessionID != "sess-live" || rep.Reason != EndClosed {
		t.Errorf("report %+v, want sess-live closed", rep)
	}
}

func TestShutdownCutsLiveSessionsWhenItsContextEnds(t *testing.T) {
	f := newFixture(t, nil)
	guest, host := f.pair(t, "sess-cut")

	err := f.shutdown(t, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v, want context.DeadlineExceeded", err)
	}
	if r := f.report(t); r.SessionID != "sess-cut" || r.Reason != EndShutdown {
		t.Errorf("report %+v, want sess-cut ended by shutdown", r)
	}
	for name, c := range map[string]net.Conn{"guest": guest, "host": host} {
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := c.Read(make([]byte, 1)); err == nil || slowconn.IsTimeout(err) {
			t.Errorf("%s read after the cut: %v, want the connection closed", name, err)
		}
	}
	if s := f.srv.Stats(); s.Live != 0 {
		t.Errorf("stats %+v, want no live session", s)
	}
}

func TestServeConnRelaysConnectionsAcceptedElsewhere(t *testing.T) {
	f := newFixture(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served sync.WaitGroup
	defer served.Wait()
	for range 2 {
		served.Go(func() {
			conn, err := ln.Accept()
			if err != nil {
				t.Errorf("accept: %v", err)
				return
			}
			if err := f.srv.ServeConn(tls.Server(conn, f.server)); err != nil {
				t.Errorf("ServeConn: %v", err)
			}
		})
	}
	f.addr = ln.Addr().String()
	guest, host := f.pair(t, "sess-elsewhere")
	send(t, guest, []byte("via another transport"))
	if got := readAll(t, host); string(got) != "via another transport" {
		t.Errorf("host received %q", got)
	}
	send(t, host, nil)
	readAll(t, guest)
	f.report(t)
}

func TestServeRefusesAnInvalidConfiguration(t *testing.T) {
	keys := ticket.NewKeySet(nil)
	cases := []struct {
		name string
		srv  *Server
		want []string
	}{
		{"empty", &Server{}, []string{"ID is empty", "Verifier is nil"}},
		{"audience differs and no replay cache", &Server{ID: "cs-1", Verifier: &ticket.Verifier{Keys: keys, Audience: "cs-2"}},
			[]string{`Audience "cs-2" differs`, "Replay is nil"}},
		{"no keys, negative timeout", &Server{ID: "cs-1", PairTimeout: -time.Second,
			Verifier: &ticket.Verifier{Audience: "cs-1", Replay: &ticket.ReplayCache{}}},
			[]string{"Keys is nil", "must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			err = tc.srv.Serve(ln)
			if err == nil {
				t.Fatal("Serve accepted an invalid configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
