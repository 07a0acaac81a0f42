package cmlink_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/relay/cmlink"
	"github.com/portcullis/portcullis/ticket"
)

func TestAVendorRelayRegistersItsLoadAndDrains(t *testing.T) {
	c := startCM(t)
	r := newFakeRelay("s-1", "s-2")
	r.setStats(relay.Stats{Live: 2, Bytes: 1000})
	l := c.link("cs-a", c.vendorClient(t, "cs-a"))
	ctx := t.Context()
	next, err := l.Register(ctx, r)
	if err != nil || next != relayInterval {
		t.Fatalf("Register = %v, %v; want the CM's interval %v", next, err, relayInterval)
	}
	rec := c.relayRecord(t, "cs-a")
	if !rec.Healthy || rec.Sessions != 2 || rec.Owner != "vendor" || rec.Private || rec.MaxSessions != 100 || rec.Addr != "127.0.0.1:1970" {
		t.Fatalf("the CM's record %+v is not the registration", rec)
	}
	// The second report carries the bytes per second since the first.
	time.Sleep(50 * time.Millisecond)
	r.setStats(relay.Stats{Live: 1, Bytes: 101000})
	if _, err := l.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	if rec = c.relayRecord(t, "cs-a"); rec.BytesPerSec <= 0 || rec.BytesPerSec > 100000/0.05 || rec.Sessions != 1 {
		t.Fatalf("the CM's record %+v does not carry the load (bytes/s in (0, 2e6])", rec)
	}
	l.Drain(ctx, r)
	if rec = c.relayRecord(t, "cs-a"); rec.Healthy {
		t.Fatal("a draining relay is still assigned sessions")
	}
}

func TestRegistrationFailures(t *testing.T) {
	c := startCM(t)
	globex := enrolled(t, c, "cs-globex-1", "globex")
	tests := []struct {
		name string
		link func() *cmlink.Link
		code access.Code
		says string
	}{
		{"no client certificate", func() *cmlink.Link { return c.link("cs-a", c.client()) },
			access.ErrRelayCertRequired, "a relay client certificate naming the relay (relay:<id>) is required"},
		{"the relays' old shared certificate", func() *cmlink.Link { return c.link("cs-a", c.sharedCertClient(t)) },
			access.ErrRelayCertRequired, "the shared relay certificate (portcullis-relay) no longer identifies a relay"},
		{"a vendor certificate claims an enrolled relay's id", func() *cmlink.Link { return c.link("cs-globex-1", c.vendorClient(t, "cs-b")) },
			access.ErrWrongRelay, "this relay's certificate is for cs-b, not cs-globex-1"},
		{"a vendor certificate for an enrolled relay's id", func() *cmlink.Link { return c.link("cs-globex-1", c.vendorClient(t, "cs-globex-1")) },
			access.ErrUnknownRelay, "cs-globex-1 is a tenant's enrolled relay"},
		{"an enrolled relay claims another id", func() *cmlink.Link { return c.link("cs-eu-1", globex) },
			access.ErrWrongRelay, "this relay's certificate is for cs-globex-1, not cs-eu-1"},
		{"a vendor relay claims to be private", func() *cmlink.Link {
			l := c.link("cs-b", c.vendorClient(t, "cs-b"))
			l.Registration.Private = true
			return l
		}, access.ErrForbidden, "must enrol with a relay enrollment token"},
		{"CM down", func() *cmlink.Link { return at(c.link("cs-a", c.vendorClient(t, "cs-a")), "https://"+freeAddr(t)) },
			"", "connection refused"},
		{"malformed answer", func() *cmlink.Link {
			return at(c.link("cs-a", c.vendorClient(t, "cs-a")), answering(t, `{"interval_seconds":`))
		},
			"", "decode answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := tt.link().Register(t.Context(), newFakeRelay())
			wantCode(t, err, tt.code, tt.says)
			if next != 0 {
				t.Fatalf("a failed registration asks for interval %v", next)
			}
		})
	}
}

func TestReportsReachTheSessionRecord(t *testing.T) {
	c := startCM(t)
	c.assignSession(t, "sess-paired", "cs-a")
	c.assignSession(t, "sess-ended", "cs-a")
	c.assignSession(t, "sess-elsewhere", "cs-b")
	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	ended := started.Add(30 * time.Second)
	tests := []struct {
		name   string
		report func(*cmlink.Link) error
		code   access.Code
		says   string
	}{
		{"paired", func(l *cmlink.Link) error {
			return l.ReportPaired(t.Context(), relay.PairReport{SessionID: "sess-paired", GuestTransport: "http", HostTransport: "tcp"})
		}, "", ""},
		{"ended", func(l *cmlink.Link) error {
			return l.ReportEnd(t.Context(), relay.SessionReport{SessionID: "sess-ended", Started: started, Ended: ended,
				BytesGuestToHost: 123, BytesHostToGuest: 4567, Reason: relay.EndClosed})
		}, "", ""},
		{"a session of another relay", func(l *cmlink.Link) error {
			return l.ReportEnd(t.Context(), relay.SessionReport{SessionID: "sess-elsewhere", Started: started, Ended: ended, Reason: relay.EndClosed})
		}, access.ErrNotFound, "no such session on this relay"},
		{"an unknown session", func(l *cmlink.Link) error {
			return l.ReportPaired(t.Context(), relay.PairReport{SessionID: "sess-never", GuestTransport: "tcp", HostTransport: "tcp"})
		}, access.ErrNotFound, "no such session on this relay"},
		{"CM down", func(l *cmlink.Link) error {
			l.CMURL = "https://" + freeAddr(t)
			return l.ReportEnd(t.Context(), relay.SessionReport{SessionID: "sess-ended", Started: started, Ended: ended})
		}, "", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := c.link("cs-a", c.vendorClient(t, "cs-a"))
			err := tt.report(l)
			if tt.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.says)
		})
	}
	if s, err := c.store.GetSession(t.Context(), "sess-paired"); err != nil || s.Transport != "guest=http host=tcp" {
		t.Errorf("paired session record %+v (%v) does not name the transports", s, err)
	}
	s, err := c.store.GetSession(t.Context(), "sess-ended")
	if err != nil || s.EndedAt == nil || !s.EndedAt.Equal(ended) || s.BytesUp != 123 || s.BytesDown != 4567 || s.EndReason != relay.EndClosed {
		t.Errorf("ended session record %+v (%v) is not the report", s, err)
	}
	if s, err := c.store.GetSession(t.Context(), "sess-elsewhere"); err != nil || s.EndedAt != nil {
		t.Errorf("a report about another relay's session ended it: %+v (%v)", s, err)
	}
}

func TestFetchKeys(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the CM's URL, a client for it, and the keys the fetch must yield
		// (nil: the fetch must fail).
		setup func(t *testing.T) (string, *http.Client, *ticket.KeySet)
		says  string
	}{
		{"the CM's keys", func(t *testing.T) (string, *http.Client, *ticket.KeySet) {
			c := startCM(t)
			return c.url, c.vendorClient(t, "cs-a"), c.keys
		}, ""},
		{"a CM that comes up late", func(t *testing.T) (string, *http.Client, *ticket.KeySet) {
			c := newCM(t)
			time.AfterFunc(100*time.Millisecond, func() { _ = c.listen() })
			return c.url, c.vendorClient(t, "cs-a"), c.keys
		}, ""},
		{"a CM that stays down", func(t *testing.T) (string, *http.Client, *ticket.KeySet) {
			return "https://" + freeAddr(t), http.DefaultClient, nil
		}, "connection refused"},
		{"a malformed answer", func(t *testing.T) (string, *http.Client, *ticket.KeySet) {
			return answering(t, `{"keys": 7}`), http.DefaultClient, nil
		}, "ticket: key set"},
		{"an invalid key", func(t *testing.T) (string, *http.Client, *ticket.KeySet) {
			return answering(t, `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"k1","x":"c2hvcnQ"}]}`), http.DefaultClient, nil
		}, "ticket: key set: key 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, hc, want := tt.setup(t)
			l := &cmlink.Link{CMURL: url, Client: hc, KeyRetry: 20 * time.Millisecond, Registration: api.RelayRegistration{ID: "cs-a"}}
			// A failing fetch retries until the context ends.
			limit := 300 * time.Millisecond
			if want != nil {
				limit = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), limit)
			defer cancel()
			keys := ticket.NewKeySet(nil)
			err := l.FetchKeys(ctx, keys)
			if want == nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("FetchKeys = %v, want the context's end", err)
				}
				wantCode(t, err, "", tt.says)
				return
			}
			if err != nil {
				t.Fatalf("FetchKeys: %v", err)
			}
			got, _ := json.Marshal(keys)
			exp, _ := json.Marshal(want)
			if string(got) != string(exp) {
				t.Fatalf("fetched keys %s, want the CM's %s", got, exp)
			}
		})
	}
}

// TestRunRegistersAndTakesRotatedKeys: a running link registers at once and takes the CM's
// rotated keys within KeyRefresh (at its next report).
func TestRunRegistersAndTakesRotatedKeys(t *testing.T) {
	c := startCM(t)
	l := c.link("cs-run", c.vendorClient(t, "cs-run"))
	l.KeyRefresh = 100 * time.Millisecond
	keys := ticket.NewKeySet(nil)
	if err := l.FetchKeys(t.Context(), keys); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx, newFakeRelay(), keys) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the relay's registration", func() bool {
		all, err := c.store.ListRelays(t.Context())
		return err == nil && len(all) == 1 && all[0].ID == "cs-run"
	})
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := ticket.KeyID(pub)
	c.keys.Replace(map[string]ed25519.PublicKey{kid: pub})
	waitFor(t, "the rotated keys", func() bool { _, ok := keys.Lookup(kid); return ok })
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
