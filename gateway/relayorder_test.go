package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
)

// A lock can end a session before its ends reach the relay: the relay gets the order while it
// holds nothing and can only drop it, and the Guest and a Host that ignores its own order then
// pair with valid tickets. The relay tells the CM when it pairs a session and, each report,
// which sessions it holds; for a session whose end is recorded the CM orders the end again.
func TestARelayHoldingASessionTheCMEndedIsOrderedToEndItAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tells func(s *relayStory, t *testing.T)
	}{
		{"when it pairs the session", func(s *relayStory, t *testing.T) {
			err := api.Call(context.Background(), s.victim, http.MethodPost, s.url+api.PathRelayPaired, "",
				api.RelayPaired{RelayID: "cs-eu-1", SessionID: s.sess.SessionID, GuestTransport: "tcp", HostTransport: "tcp"}, nil)
			if err != nil {
				t.Fatalf("pairing report: %v", err)
			}
		}},
		{"when it reports the sessions it holds", func(s *relayStory, t *testing.T) {
			s.now = s.now.Add(time.Minute) // the relay's sessions are due for reconciliation
			s.registerRelay(t, api.RelayRegistration{ID: "cs-eu-1", Addr: "127.0.0.1:1970", Region: "eu-north",
				Owner: "vendor", LiveSessions: []string{s.sess.SessionID}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startRelayStory(t)
			s.lockEndsItAtTheVictim(t) // the order cs-eu-1 could not act on: it did not hold the session yet
			tc.tells(s, t)
			cmds := s.relayCommands(t, s.victim, "cs-eu-1")
			if len(cmds) != 1 || cmds[0].SessionID != s.sess.SessionID || cmds[0].Reason != "locked: offboarding" {
				t.Fatalf("cs-eu-1 was told %+v, want the end of %s again, for the lock", cmds, s.sess.SessionID)
			}
		})
	}
}

// A relay that lists another relay's ended session among those it holds orders nothing.
func TestARelayListingAnotherRelaysEndedSessionOrdersNothing(t *testing.T) {
	t.Parallel()
	s := startRelayStory(t)
	s.lockEndsItAtTheVictim(t)
	s.now = s.now.Add(time.Minute)
	if err := s.tryRegister(s.mallory, api.RelayRegistration{ID: "cs-us-1", Addr: "127.0.0.1:1971", Region: "us-east",
		LiveSessions: []string{s.sess.SessionID}}); err != nil {
		t.Fatal(err)
	}
	if cmds := s.relayCommands(t, s.victim, "cs-eu-1"); len(cmds) != 0 {
		t.Fatalf("cs-eu-1 was told %+v after cs-us-1 listed its session", cmds)
	}
}

// A relay whose reports stop (the CM replica it reports to hangs, a network drops them) may
// still splice its sessions: once their records are ended as lost, locks and re-evaluation no
// longer see them, so the Host and the relay are ordered to end them when they are recorded.
func TestTheSessionsOfALostRelayAreOrderedToEnd(t *testing.T) {
	t.Parallel()
	w := startWorld(t, withConfig(func(c *gateway.Config) { c.RelayInterval, c.RelayStale = time.Second, 2*time.Second }))
	sess := w.liveSession(t, w.login(t, "alice@example.com", "123456"), "db-1")
	victim := w.relayClient(t, "cs-eu-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }()
	w.later.Store(int64(time.Minute)) // cs-eu-1's reports have not reached the CM for a minute
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, err := w.store.GetSession(context.Background(), sess.SessionID)
		if err == nil && rec.EndedAt != nil {
			if rec.EndReason != "relay lost" {
				t.Fatalf("the session ended for %q, want relay lost", rec.EndReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lost relay's session was not ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if reqs := w.hostRequests(t, "db-1"); len(reqs) != 1 || !reqs[0].Kill || reqs[0].SessionID != sess.SessionID {
		t.Errorf("db-1 was told %+v, want the end of %s", reqs, sess.SessionID)
	}
	if cmds := w.relayCommands(t, victim, "cs-eu-1"); len(cmds) != 1 || cmds[0].SessionID != sess.SessionID || cmds[0].Reason != "relay lost" {
		t.Errorf("cs-eu-1 was told %+v, want the end of %s", cmds, sess.SessionID)
	}
}

// A relay reports the sessions it holds in each registration: one holding as many as its
// default bounds allow (10,000 spliced and 10,000 waiting) registers, and keeps its sessions.
// Refused for its size, it would stop reporting and its sessions would be ended as lost.
func TestARelayHoldingTwentyThousandSessionsRegisters(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	sess := w.liveSession(t, w.login(t, "alice@example.com", "123456"), "db-1")
	held := []string{sess.SessionID}
	for i := range 20000 {
		held = append(held, fmt.Sprintf("ses_%032x", i))
	}
	w.now = w.now.Add(time.Minute)
	w.registerRelay(t, api.RelayRegistration{ID: "cs-eu-1", Addr: "127.0.0.1:1970", Region: "eu-north", Owner: "vendor", LiveSessions: held})
	if rec, err := w.store.GetSession(context.Background(), sess.SessionID); err != nil || rec.EndedAt != nil {
		t.Fatalf("the session the relay holds: %+v, %v; want live", rec, err)
	}
}

// A registration whose addresses Guests and Hosts could not dial is refused, and the relay is
// not listed.
func TestARelayRegistrationWithAnAddressNobodyCanDialIsRefused(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	hc := w.relayClient(t, "cs-bad")
	for _, reg := range []api.RelayRegistration{
		{ID: "cs-bad", Addr: "not an addr"},
		{ID: "cs-bad", Addr: "cs.example.com"},
		{ID: "cs-bad", Addr: "cs.example.com:1970", HTTPAddr: "ftp://x"},
	} {
		if err := w.tryRegister(hc, reg); !errors.Is(err, access.ErrBadRequest) {
			t.Errorf("registration %+v: %v, want bad_request", reg, err)
		}
	}
	all, err := w.store.ListRelays(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range all {
		if rel.ID == "cs-bad" {
			t.Errorf("the refused relay is listed: %+v", rel)
		}
	}
}

// A relay whose reports the CM refuses (here for an address nobody can dial) is not kept
// alive by them: once it has sent no accepted report for the relay-stale time, its sessions
// end as lost.
func TestRefusedRegistrationsDoNotKeepARelayAlive(t *testing.T) {
	t.Parallel()
	w := startWorld(t, withConfig(func(c *gateway.Config) { c.RelayInterval, c.RelayStale = time.Second, 2*time.Second }))
	sess := w.liveSession(t, w.login(t, "alice@example.com", "123456"), "db-1")
	hc := w.relayClient(t, "cs-eu-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }()
	w.later.Store(int64(time.Minute)) // cs-eu-1's last accepted report is a minute old
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := w.tryRegister(hc, api.RelayRegistration{ID: "cs-eu-1", Addr: "not an addr"}); !errors.Is(err, access.ErrBadRequest) {
			t.Fatalf("a registration with an address nobody can dial: %v, want bad_request", err)
		}
		rec, err := w.store.GetSession(context.Background(), sess.SessionID)
		if err == nil && rec.EndedAt != nil {
			if rec.EndReason != "relay lost" {
				t.Fatalf("the session ended for %q, want relay lost", rec.EndReason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("refused registrations kept the relay alive: its session was not ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
