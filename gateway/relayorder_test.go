package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
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
