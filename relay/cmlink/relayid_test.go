package cmlink_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
)

// TestARelayWithItsOwnCertificateCannotActForAnother: cs-b's operator, holding only cs-b's
// certificate, points a link at cs-a's id and tries each thing a relay says to the CM: ending
// cs-a's live session, reporting it paired, taking cs-a's kill orders, and registering as cs-a
// at another address with no sessions. Each is refused for naming another relay than the
// certificate; cs-a's registration and its session's record stay as they were, the session
// cs-b reports as its own is no session of cs-b, and a lock of cs-a's session still reaches cs-a
// and only cs-a.
func TestARelayWithItsOwnCertificateCannotActForAnother(t *testing.T) {
	c := startCM(t)
	ctx := t.Context()
	victim := c.link("cs-a", c.vendorClient(t, "cs-a"))
	held := newFakeRelay("sess-1")
	if _, err := victim.Register(ctx, held); err != nil {
		t.Fatal(err)
	}
	c.assignSession(t, "sess-1", "cs-a")
	before := c.relayRecord(t, "cs-a")
	sessBefore, err := c.store.GetSession(ctx, "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	posing := c.link("cs-a", c.vendorClient(t, "cs-b")) // cs-b's certificate, cs-a's id
	itself := c.link("cs-b", c.vendorClient(t, "cs-b"))
	ended := relay.SessionReport{SessionID: "sess-1", Started: time.Now().Add(-time.Minute), Ended: time.Now(), Reason: relay.EndClosed}
	attacks := []struct {
		name string
		do   func() error
		code access.Code
		says string
	}{
		{"(a) end cs-a's live session", func() error { return posing.ReportEnd(ctx, ended) },
			access.ErrWrongRelay, "this relay's certificate is for cs-b, not cs-a"},
		{"(a) report cs-a's session paired", func() error {
			return posing.ReportPaired(ctx, relay.PairReport{SessionID: "sess-1", GuestTransport: "http", HostTransport: "http"})
		}, access.ErrWrongRelay, "this relay's certificate is for cs-b, not cs-a"},
		{"(a) end cs-a's session as cs-b", func() error { return itself.ReportEnd(ctx, ended) },
			access.ErrNotFound, "no such session on this relay"},
		{"(b) take cs-a's kill orders", func() error { _, err := posing.PollCommands(ctx); return err },
			access.ErrWrongRelay, "this relay's certificate is for cs-b, not cs-a"},
		{"(c) register as cs-a elsewhere, holding nothing", func() error {
			hijack := c.link("cs-a", c.vendorClient(t, "cs-b"))
			hijack.Registration.Addr = "203.0.113.9:1970"
			_, err := hijack.Register(ctx, newFakeRelay())
			return err
		}, access.ErrWrongRelay, "this relay's certificate is for cs-b, not cs-a"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			wantCode(t, a.do(), a.code, a.says)
			if rec := c.relayRecord(t, "cs-a"); rec.Addr != before.Addr || rec.Owner != "vendor" || !rec.Healthy {
				t.Fatalf("cs-a's registration changed: %+v, was %+v", rec, before)
			}
			if s, err := c.store.GetSession(ctx, "sess-1"); err != nil || s.EndedAt != nil || s.Transport != sessBefore.Transport {
				t.Fatalf("cs-a's session record changed: %+v (%v)", s, err)
			}
		})
	}

	// cs-b polls as itself, holding a session of the same id, while cs-a's session is locked:
	// the order reaches cs-a, and cs-b is told nothing.
	other := newFakeRelay("sess-1")
	stopOther := runCommands(t, itself, other)
	defer stopOther()
	stop := runCommands(t, victim, held)
	defer stop()
	if err := c.asAdmin(http.MethodPost, api.PathLocks, api.LockRequest{Session: "sess-1", Reason: "incident 12"}, nil); err != nil {
		t.Fatal(err)
	}
	wantEnded(t, held, "sess-1", api.ReasonPrefixLocked+"incident 12")
	time.Sleep(2 * longPoll) // a wrongly routed order would have reached cs-b by now
	if ids := other.SessionIDs(); len(ids) != 1 {
		t.Fatalf("cs-b was ordered to end cs-a's session: it holds %v", ids)
	}
}

// TestARelaysCallsNeedNotNameIt: the CM takes the relay from the certificate, so a report or a
// poll that names no relay is the certificate's relay's.
func TestARelaysCallsNeedNotNameIt(t *testing.T) {
	c := startCM(t)
	hc := c.vendorClient(t, "cs-a")
	c.assignSession(t, "sess-1", "cs-a")
	if err := api.Call(t.Context(), hc, http.MethodPost, c.url+api.PathRelayRegister, "", api.RelayRegistration{Addr: "127.0.0.1:1970"}, nil); err != nil {
		t.Fatalf("register without an id: %v", err)
	}
	if rec := c.relayRecord(t, "cs-a"); rec.Addr != "127.0.0.1:1970" {
		t.Fatalf("the CM's record %+v", rec)
	}
	if err := api.Call(t.Context(), hc, http.MethodPost, c.url+api.PathRelaySessionEnd, "",
		api.SessionEnd{SessionID: "sess-1", Ended: time.Now(), Reason: relay.EndClosed}, nil); err != nil {
		t.Fatalf("session end without an id: %v", err)
	}
	if s, err := c.store.GetSession(t.Context(), "sess-1"); err != nil || s.EndedAt == nil {
		t.Fatalf("the report did not end cs-a's session: %+v (%v)", s, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var cmds api.RelayCommands
	if err := api.Call(ctx, hc, http.MethodGet, c.url+api.PathRelayCommands, "", nil, &cmds); err != nil || len(cmds.Commands) != 0 {
		t.Fatalf("poll without an id: %+v, %v", cmds, err)
	}
}
