package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
)

// Every relay's certificate names its id, and the CM binds each relay call to it. These stories
// are the attacks of a relay's operator who holds only that relay's certificate (cs-us-1's)
// against another relay (cs-eu-1) and its live session: each is refused, and afterwards a lock
// of the session's user still ends it at cs-eu-1.

// relayStory is a world with bob's live session on cs-eu-1 and a second vendor relay, cs-us-1.
type relayStory struct {
	*world
	sess    api.ConnectResponse
	victim  *http.Client // cs-eu-1's certificate
	mallory *http.Client // cs-us-1's certificate
}

func startRelayStory(t *testing.T) *relayStory {
	t.Helper()
	w := startWorld(t)
	s := &relayStory{world: w, victim: w.relayClient(t, "cs-eu-1"), mallory: w.relayClient(t, "cs-us-1")}
	s.sess = w.liveSession(t, w.login(t, "bob@example.com", ""), "web-1")
	if s.sess.Relay.ID != "cs-eu-1" {
		t.Fatalf("bob's session went to %s, want cs-eu-1", s.sess.Relay.ID)
	}
	if err := w.tryRegister(s.mallory, api.RelayRegistration{ID: "cs-us-1", Addr: "127.0.0.1:1971", Region: "us-east"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// wantLive fails unless the session's record is live, on cs-eu-1.
func (s *relayStory) wantLive(t *testing.T) {
	t.Helper()
	rec, err := s.store.GetSession(context.Background(), s.sess.SessionID)
	if err != nil || rec.EndedAt != nil || rec.RelayID != "cs-eu-1" {
		t.Fatalf("bob's session record %+v (%v), want live on cs-eu-1", rec, err)
	}
}

// lockEndsItAtTheVictim locks bob and checks that the CM ends the session and orders cs-eu-1,
// polling with its own certificate, to end it.
func (s *relayStory) lockEndsItAtTheVictim(t *testing.T) {
	t.Helper()
	l := s.lock(t, s.login(t, "dave@example.com", ""), api.LockRequest{User: "bob@example.com", Reason: "offboarding"})
	if !slices.Equal(l.EndedSessions, []string{s.sess.SessionID}) {
		t.Fatalf("the lock ended %v, want bob's session %s", l.EndedSessions, s.sess.SessionID)
	}
	if cmds := s.relayCommands(t, s.victim, "cs-eu-1"); len(cmds) != 1 || cmds[0].SessionID != s.sess.SessionID {
		t.Fatalf("cs-eu-1 was told %+v, want the end of %s", cmds, s.sess.SessionID)
	}
}

func TestARelayCannotEndAnotherRelaysLiveSession(t *testing.T) {
	t.Parallel()
	s := startRelayStory(t)
	for _, tc := range []struct {
		name  string
		names string // the relay id the report names
		want  access.Code
	}{
		{"naming the session's relay", "cs-eu-1", access.ErrWrongRelay},
		{"naming itself", "cs-us-1", access.ErrNotFound},
		{"naming no relay", "", access.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{api.PathRelaySessionEnd, api.PathRelayPaired} {
				var body any = api.SessionEnd{RelayID: tc.names, SessionID: s.sess.SessionID, Ended: s.now, Reason: "closed"}
				if path == api.PathRelayPaired {
					body = api.RelayPaired{RelayID: tc.names, SessionID: s.sess.SessionID, GuestTransport: "http", HostTransport: "http"}
				}
				err := api.Call(context.Background(), s.mallory, http.MethodPost, s.url+path, "", body, nil)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: %v, want %s", path, err, tc.want)
				}
			}
			s.wantLive(t)
		})
	}
	s.lockEndsItAtTheVictim(t)
}

func TestARelayCannotTakeAnotherRelaysKillOrders(t *testing.T) {
	t.Parallel()
	s := startRelayStory(t)
	var cmds api.RelayCommands
	err := api.Call(context.Background(), s.mallory, http.MethodGet, s.url+api.PathRelayCommands+"?relay=cs-eu-1", "", nil, &cmds)
	if !errors.Is(err, access.ErrWrongRelay) || len(cmds.Commands) != 0 {
		t.Fatalf("cs-us-1 polls for cs-eu-1: %+v, %v; want wrong_relay", cmds, err)
	}
	// cs-us-1 polls as itself (naming no relay) while bob is locked: it gets nothing, cs-eu-1
	// gets the order.
	stolen := make(chan []api.RelayCommand, 1)
	go func() {
		var cmds api.RelayCommands
		_ = api.Call(context.Background(), s.mallory, http.MethodGet, s.url+api.PathRelayCommands, "", nil, &cmds)
		stolen <- cmds.Commands
	}()
	s.lockEndsItAtTheVictim(t)
	if got := <-stolen; len(got) != 0 {
		t.Fatalf("cs-us-1 was told %+v", got)
	}
}

func TestARelayCannotTakeOverAnotherRelaysID(t *testing.T) {
	t.Parallel()
	s := startRelayStory(t)
	// Long enough later that a registration listing no sessions would end bob's session's
	// record (it is older than a ticket's lifetime), were it accepted for cs-eu-1.
	s.now = s.now.Add(3 * time.Minute)
	before := s.relayRecord(t, "cs-eu-1")
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	shared, err := s.ca.IssueClientCert(pub, certs.CSCommonName, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	globex := s.enrollRelay(t, "cs-globex-1", "globex")
	hijack := api.RelayRegistration{ID: "cs-eu-1", Addr: "203.0.113.9:1970", Region: "eu-north", LiveSessions: []string{}}
	for _, tc := range []struct {
		name string
		hc   *http.Client
		want access.Code
	}{
		{"another vendor relay's certificate", s.mallory, access.ErrWrongRelay},
		{"a tenant relay's certificate", globex, access.ErrWrongRelay},
		{"the relays' old shared certificate", s.clientWith(shared, key), access.ErrRelayCertRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.tryRegister(tc.hc, hijack); !errors.Is(err, tc.want) {
				t.Fatalf("registering as cs-eu-1: %v, want %s", err, tc.want)
			}
			if rec := s.relayRecord(t, "cs-eu-1"); rec != before {
				t.Fatalf("cs-eu-1's registration changed: %+v, was %+v", rec, before)
			}
			s.wantLive(t)
		})
	}
	t.Run("a tenant's relay enrolling under the id", func(t *testing.T) {
		if err := s.tryEnrollRelay(t, "cs-eu-1", "globex"); !errors.Is(err, access.ErrConflict) {
			t.Fatalf("enrolling as cs-eu-1: %v, want conflict", err)
		}
		s.wantLive(t)
	})
	// The real cs-eu-1 reports its session and goes on.
	if err := s.tryRegister(s.victim, api.RelayRegistration{ID: "cs-eu-1", Addr: before.Addr, Region: "eu-north", LiveSessions: []string{s.sess.SessionID}}); err != nil {
		t.Fatal(err)
	}
	s.wantLive(t)
	s.lockEndsItAtTheVictim(t)
}

// tryEnrollRelay has dave create a relay enrollment token for tenant and a relay enrol as id.
func (c *cm) tryEnrollRelay(t *testing.T, id, tenant string) error {
	t.Helper()
	var tok api.EnrollmentTokenResponse
	if err := c.call(c.login(t, "dave@example.com", ""), http.MethodPost, api.PathEnrollmentTokens,
		api.EnrollmentTokenRequest{Tenant: tenant, Kind: "relay"}, &tok); err != nil {
		t.Fatalf("create relay enrollment token: %v", err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	return api.Call(context.Background(), c.http, http.MethodPost, c.url+api.PathRelayEnroll, "",
		api.RelayEnrollRequest{Token: tok.Token, ID: id, PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, nil)
}
