package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// plainTicket mints a ticket for one half of session sid whose minimum level is level.
func (f *fixture) plainTicket(t *testing.T, role access.Role, sid, level string) string {
	c := claimsAt(role, sid, time.Now())
	c.Obligations.MinEncryption = level
	return mint(t, f.signer, c)
}

// dialPlain dials the fixture's server over TLS and runs HandshakePlain (asking for plain legs)
// or Handshake; it returns the connection that carries the session stream.
func (f *fixture) dialPlain(t *testing.T, role access.Role, rawTicket string, ask bool) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: f.client}).DialContext(ctx, "tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream := conn
	if ask {
		stream, err = HandshakePlain(ctx, conn, role, rawTicket)
	} else {
		err = Handshake(ctx, conn, role, rawTicket)
	}
	return stream, err
}

// waitingHost dials the host half of session sid at the fast level (asking for plain legs when
// ask is set) in the background and waits until it waits for its peer.
func (f *fixture) waitingHost(t *testing.T, sid string, ask bool) <-chan dialResult {
	t.Helper()
	hostCh := make(chan dialResult, 1)
	go func() {
		c, err := f.dialPlain(t, access.RoleHost, f.plainTicket(t, access.RoleHost, sid, access.LevelFast), ask)
		hostCh <- dialResult{c, err}
	}()
	f.waitFor(t, "the host half to wait", func(s Stats) bool { return s.Pending == 1 })
	return hostCh
}

// TestRefusedPlainLegsLeaveTheTicketForTLSLegs: a half refused plain legs (its ticket's level
// is not fast) has not spent its ticket: presented again without asking, it pairs over TLS.
func TestRefusedPlainLegsLeaveTheTicketForTLSLegs(t *testing.T) {
	f := newFixture(t, func(s *Server) { s.PairTimeout = testTimeout })
	sid := "sess-plain-retry"
	hostCh := f.waitingHost(t, sid, false)
	raw := f.plainTicket(t, access.RoleGuest, sid, access.LevelVeryHigh)
	_, err := f.dialPlain(t, access.RoleGuest, raw, true)
	wantRefused(t, err, access.ErrPlainLegsRefused, access.ErrPlainLegsRefused)
	guest, err := f.dialPlain(t, access.RoleGuest, raw, false)
	if err != nil {
		t.Fatalf("the same ticket over TLS legs: %v", err)
	}
	host := await(t, hostCh)
	if _, isTLS := guest.(*tls.Conn); !isTLS {
		t.Errorf("guest's stream is %T, want TLS", guest)
	}
	exchange(t, guest, host)
	_, err = f.dialPlain(t, access.RoleGuest, raw, false) // used now: a third try is a replay
	wantRefused(t, err, access.ErrReplayed, access.ErrReplayed)
}

// exchange sends a mebibyte each way through a paired session and checks that it arrives
// intact and that each half-close reaches the peer.
func exchange(t *testing.T, guest, host net.Conn) {
	t.Helper()
	up, down := randomBytes(t, mib), randomBytes(t, mib)
	var gotUp, gotDown []byte
	var wg sync.WaitGroup
	wg.Go(func() { sendAndCloseWrite(t, guest, up) })
	wg.Go(func() { sendAndCloseWrite(t, host, down) })
	wg.Go(func() { gotUp = readAll(t, host) })
	wg.Go(func() { gotDown = readAll(t, guest) })
	wg.Wait()
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Errorf("received %d and %d bytes that differ from the %d sent each way", len(gotUp), len(gotDown), mib)
	}
}

// sendAndCloseWrite writes b then half-closes conn, TLS or TCP.
func sendAndCloseWrite(t *testing.T, conn net.Conn, b []byte) {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Errorf("write: %v", err)
	}
	if err := closeWrite(conn); err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
}

func TestPlainLegsOnlyWhenBothHalvesAskAndTheirTicketsAllow(t *testing.T) {
	cases := []struct {
		name                 string
		guestAsks, hostAsks  bool
		guestLevel           string
		wantPlain            bool
		wantGuestRefusedCode access.Code // "" when the guest is paired
	}{
		{name: "both ask at fast", guestAsks: true, hostAsks: true, guestLevel: access.LevelFast, wantPlain: true},
		{name: "only the guest asks", guestAsks: true, guestLevel: access.LevelFast},
		{name: "only the host asks", hostAsks: true, guestLevel: access.LevelFast},
		{name: "neither asks", guestLevel: access.LevelFast},
		{name: "the guest asks on a very_high ticket", guestAsks: true, hostAsks: true, guestLevel: access.LevelVeryHigh,
			wantGuestRefusedCode: access.ErrPlainLegsRefused},
		{name: "the guest asks on a ticket without a level", guestAsks: true, hostAsks: true, guestLevel: "",
			wantGuestRefusedCode: access.ErrPlainLegsRefused},
		{name: "the guest asks on a medium ticket", guestAsks: true, hostAsks: true, guestLevel: access.LevelMedium,
			wantGuestRefusedCode: access.ErrPlainLegsRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(s *Server) { s.PairTimeout = time.Second })
			sid := "sess-plain"
			hostCh := f.waitingHost(t, sid, tc.hostAsks)
			guest, err := f.dialPlain(t, access.RoleGuest, f.plainTicket(t, access.RoleGuest, sid, tc.guestLevel), tc.guestAsks)
			if tc.wantGuestRefusedCode != "" {
				wantRefused(t, err, tc.wantGuestRefusedCode, tc.wantGuestRefusedCode)
				r := <-hostCh
				wantRefused(t, r.err, access.ErrPairTimeout, access.ErrPairTimeout) // never spliced
				return
			}
			if err != nil {
				t.Fatalf("guest: %v", err)
			}
			host := await(t, hostCh)
			for name, c := range map[string]net.Conn{"guest": guest, "host": host} {
				if _, isTLS := c.(*tls.Conn); isTLS == tc.wantPlain {
					t.Errorf("%s's stream is %T, want plain legs %v", name, c, tc.wantPlain)
				}
			}
			exchange(t, guest, host)
			wantTransport := "tcp"
			if tc.wantPlain {
				wantTransport = TransportTCPPlain
			}
			if r := f.report(t); r.Reason != EndClosed || r.BytesGuestToHost != mib || r.BytesHostToGuest != mib ||
				r.GuestTransport != wantTransport || r.HostTransport != wantTransport {
				t.Errorf("report %+v, want closed with %d bytes each way over %s", r, mib, wantTransport)
			}
		})
	}
}

func TestAPlainLegAcknowledgedWrongIsCutBeforeAByteIsSpliced(t *testing.T) {
	f := newFixture(t, nil)
	sid := "sess-bad-ack"
	hostCh := f.waitingHost(t, sid, true)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: f.client}).DialContext(ctx, "tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	plain, err := handshake(ctx, conn, access.RoleGuest, f.plainTicket(t, access.RoleGuest, sid, access.LevelFast), true)
	if err != nil || !plain {
		t.Fatalf("handshake = %v, %v; want plain legs", plain, err)
	}
	// The guest answers with session bytes instead of the acknowledgement.
	if _, err := PlainConn(conn.(*tls.Conn)).Write([]byte("SSH-2.0-x\r\n")); err != nil {
		t.Fatal(err)
	}
	host := await(t, hostCh)
	_ = host.SetReadDeadline(time.Now().Add(testTimeout))
	if b, err := host.Read(make([]byte, 64)); err == nil {
		t.Errorf("the host read %d bytes of a session whose guest never acknowledged", b)
	}
	if r := f.report(t); r.Reason != EndError || r.BytesGuestToHost != 0 {
		t.Errorf("report %+v, want failed with nothing relayed", r)
	}
}

func TestIdlePlainLegsPark(t *testing.T) {
	f := newParkingFixture(t)
	sid := "sess-plain-idle"
	hostCh := f.waitingHost(t, sid, true)
	guest, err := f.dialPlain(t, access.RoleGuest, f.plainTicket(t, access.RoleGuest, sid, access.LevelFast), true)
	if err != nil {
		t.Fatal(err)
	}
	host := await(t, hostCh)
	f.waitFor(t, "both directions to park", func(s Stats) bool { return s.Parked == 2 })
	// A burst wakes the direction, moves through the kernel, and the quiet after it parks again.
	burst := randomBytes(t, mib)
	go func() {
		if _, err := guest.Write(burst); err != nil {
			t.Errorf("write: %v", err)
		}
	}()
	got := make([]byte, len(burst))
	_ = host.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(host, got); err != nil || !bytes.Equal(got, burst) {
		t.Fatalf("the burst arrived as %d differing bytes (%v)", len(got), err)
	}
	f.waitFor(t, "both directions to park after the burst", func(s Stats) bool { return s.Parked == 2 })
	exchange(t, guest, host)
	if r := f.report(t); r.BytesGuestToHost != 2*mib || r.BytesHostToGuest != mib {
		t.Errorf("report %+v, want %d bytes up and %d down", r, 2*mib, mib)
	}
}
