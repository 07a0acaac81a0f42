package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/store"
)

// enrollRelay has dave create a relay enrollment token for tenant and a relay enrol with it;
// it returns the relay's HTTP client with its "relay:<id>" certificate.
func (c *cm) enrollRelay(t *testing.T, id, tenant string) *http.Client {
	t.Helper()
	var tok api.EnrollmentTokenResponse
	err := c.call(c.login(t, "dave@example.com", ""), http.MethodPost, api.PathEnrollmentTokens,
		api.EnrollmentTokenRequest{Tenant: tenant, Kind: "relay"}, &tok)
	if err != nil {
		t.Fatalf("create relay enrollment token: %v", err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	var resp api.RelayEnrollResponse
	err = api.Call(context.Background(), c.http, http.MethodPost, c.url+api.PathRelayEnroll, "",
		api.RelayEnrollRequest{Token: tok.Token, ID: id, PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, &resp)
	if err != nil || resp.Tenant != tenant {
		t.Fatalf("enroll relay %s: %+v, %v", id, resp, err)
	}
	der, err := pemCert(resp.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	// The token is spent.
	err = api.Call(context.Background(), c.http, http.MethodPost, c.url+api.PathRelayEnroll, "",
		api.RelayEnrollRequest{Token: tok.Token, ID: id + "-again", PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}, nil)
	if st, _ := statusOf(err); st != http.StatusUnauthorized {
		t.Fatalf("second enrollment with one relay token: %v, want 401", err)
	}
	return c.clientWith(der, key)
}

func TestStory7ATenantsPrivateRelayIsAssignedAndAVendorRelayNever(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	globex := w.enrollRelay(t, "cs-globex-1", "globex")
	// A vendor relay nearer to everyone: it must still never carry globex's sessions.
	w.registerRelay(t, api.RelayRegistration{ID: "cs-near", Addr: "127.0.0.1:1971", Region: "eu-west"})
	// The relay says it is the vendor's and public; its certificate says otherwise, and wins.
	if err := w.tryRegister(globex, api.RelayRegistration{ID: "cs-globex-1", Addr: "10.0.0.7:1970", Region: "eu-west", Owner: "vendor"}); err != nil {
		t.Fatalf("register cs-globex-1: %v", err)
	}
	kiosk := w.enroll(t, "kiosk-7", map[string]string{"env": "prod", "site": "store-7"}, "globex")
	if err := api.Call(context.Background(), kiosk.client, http.MethodPost, w.url+api.PathHeartbeat, "",
		api.Heartbeat{RelayLatencies: map[string]int64{"cs-near": 1, "cs-eu-1": 2, "cs-globex-1": 90}}, nil); err != nil {
		t.Fatal(err)
	}
	alice := w.login(t, "alice@example.com", "123456")
	for range 5 {
		resp, _, err := w.connect(alice, "kiosk-7", "exec")
		if err != nil {
			t.Fatalf("alice → kiosk-7: %v", err)
		}
		if resp.Relay.ID != "cs-globex-1" {
			t.Fatalf("kiosk-7's session went to %s, want cs-globex-1 only", resp.Relay.ID)
		}
		d, err := w.store.GetDecision(context.Background(), resp.DecisionID)
		if err != nil || d.Labels["relay"] != "cs-globex-1" || !strings.Contains(d.Labels["relay_reason"], "cs-near (not the tenant's private relay)") {
			t.Fatalf("decision labels %v (%v) do not record the choice and why", d.Labels, err)
		}
	}
	// And another tenant's host never gets globex's relay.
	for range 5 {
		resp, _, err := w.connect(alice, "db-1", "exec")
		if err != nil || resp.Relay.ID == "cs-globex-1" {
			t.Fatalf("acme's db-1 got relay %q (%v)", resp.Relay.ID, err)
		}
	}
}

func TestRelayRegistrationIsBoundToTheCertificate(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	globex := w.enrollRelay(t, "cs-globex-1", "globex")
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	issued := func(der []byte, err error) *http.Client {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return w.clientWith(der, key)
	}
	cases := []struct {
		name string
		hc   *http.Client
		reg  api.RelayRegistration
		want access.Code // "" means registered
	}{
		{"a vendor relay as itself", w.relayClient(t, "cs-x"), api.RelayRegistration{ID: "cs-x", Addr: "h:1"}, ""},
		{"a vendor relay naming no id is the certificate's", w.relayClient(t, "cs-z"), api.RelayRegistration{Addr: "h:1"}, ""},
		{"a vendor relay claims a private relay", w.relayClient(t, "cs-x"), api.RelayRegistration{ID: "cs-x", Addr: "h:1", Owner: "globex", Private: true}, access.ErrForbidden},
		{"a vendor relay claims another relay's id", w.relayClient(t, "cs-x"), api.RelayRegistration{ID: "cs-eu-1", Addr: "h:1"}, access.ErrWrongRelay},
		{"a vendor relay claims an enrolled relay's id", w.relayClient(t, "cs-x"), api.RelayRegistration{ID: "cs-globex-1", Addr: "h:1"}, access.ErrWrongRelay},
		{"a vendor certificate for an enrolled relay's id", w.relayClient(t, "cs-globex-1"), api.RelayRegistration{ID: "cs-globex-1", Addr: "h:1"}, access.ErrUnknownRelay},
		{"a tenant relay claims another id", globex, api.RelayRegistration{ID: "cs-eu-1", Addr: "h:1"}, access.ErrWrongRelay},
		{"an unmarked relay certificate for an id never enrolled", issued(w.ca.IssueClientCert(pub, "relay:cs-ghost", time.Hour)),
			api.RelayRegistration{ID: "cs-ghost", Addr: "h:1"}, access.ErrUnknownRelay},
		{"the relays' old shared certificate", issued(w.ca.IssueClientCert(pub, certs.CSCommonName, time.Hour)),
			api.RelayRegistration{ID: "cs-eu-1", Addr: "h:1"}, access.ErrRelayCertRequired},
		{"a host's certificate", w.hosts["db-1"].client, api.RelayRegistration{ID: "cs-y", Addr: "h:1"}, access.ErrRelayCertRequired},
		{"no client certificate", w.http, api.RelayRegistration{ID: "cs-y", Addr: "h:1"}, access.ErrRelayCertRequired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := w.tryRegister(tc.hc, tc.reg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("registration refused: %v", err)
			case tc.want != "" && !errors.Is(err, tc.want):
				t.Fatalf("registration: %v, want %s (%d)", err, tc.want, tc.want.HTTPStatus())
			}
		})
	}
	if rec := w.relayRecord(t, "cs-eu-1"); rec.Addr != "127.0.0.1:1970" {
		t.Fatalf("cs-eu-1's registration changed: %+v", rec)
	}
	if rec := w.relayRecord(t, "cs-globex-1"); rec.Addr != "" {
		t.Fatalf("cs-globex-1 was registered by another certificate: %+v", rec)
	}
}

// relayRecord returns the CM's record of relay id (the zero Relay when it has none).
func (c *cm) relayRecord(t testing.TB, id string) store.Relay {
	t.Helper()
	all, err := c.store.ListRelays(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.ID == id {
			return r
		}
	}
	return store.Relay{}
}

func TestTheRelayWithTheLowestLatencyPlusLoadIsChosenAndFailoverExcludesTheFailedOne(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	for _, r := range []api.RelayRegistration{
		{ID: "cs-a", Addr: "127.0.0.1:2001", Region: "eu-north", MaxSessions: 100},
		{ID: "cs-b", Addr: "127.0.0.1:2002", Region: "eu-north", MaxSessions: 100, Sessions: 10},
		{ID: "cs-c", Addr: "127.0.0.1:2003", Region: "eu-north", MaxSessions: 100},
	} {
		w.registerRelay(t, r)
	}
	// cs-eu-1 from the world is far from both ends.
	db1 := w.hosts["db-1"]
	if err := api.Call(context.Background(), db1.client, http.MethodPost, w.url+api.PathHeartbeat, "",
		api.Heartbeat{RelayLatencies: map[string]int64{"cs-a": 60, "cs-b": 10, "cs-c": 30, "cs-eu-1": 400}}, nil); err != nil {
		t.Fatal(err)
	}
	alice := w.login(t, "alice@example.com", "123456")
	guestLat := map[string]int64{"cs-a": 5, "cs-b": 10, "cs-c": 40, "cs-eu-1": 400}
	steps := []struct {
		exclude []string
		want    string
	}{
		// cs-a 65+0, cs-b 20+20 (10 of 100 sessions), cs-c 70+0: cs-b.
		{nil, "cs-b"},
		// Pairing failed at cs-b: the Guest asks again without it.
		{[]string{"cs-b"}, "cs-a"},
		{[]string{"cs-b", "cs-a"}, "cs-c"},
	}
	for _, st := range steps {
		resp, err := w.connectWith(alice, api.ConnectRequest{Host: "db-1", Channels: []string{"exec"}, RelayLatencies: guestLat, ExcludeRelays: st.exclude})
		if err != nil {
			t.Fatalf("connect excluding %v: %v", st.exclude, err)
		}
		if resp.Relay.ID != st.want || !strings.HasPrefix(resp.RelayReason, st.want+": lowest score") {
			t.Fatalf("excluding %v: relay %s (%s), want %s", st.exclude, resp.Relay.ID, resp.RelayReason, st.want)
		}
	}
	// A full relay is skipped even when it is nearest.
	w.registerRelay(t, api.RelayRegistration{ID: "cs-b", Addr: "127.0.0.1:2002", Region: "eu-north", MaxSessions: 10, Sessions: 10})
	w.registerRelay(t, api.RelayRegistration{ID: "cs-a", Addr: "127.0.0.1:2001", Region: "eu-north", Draining: true})
	resp, err := w.connectWith(alice, api.ConnectRequest{Host: "db-1", Channels: []string{"exec"}, RelayLatencies: guestLat})
	if err != nil || resp.Relay.ID != "cs-c" || !strings.Contains(resp.RelayReason, "cs-b (full)") {
		t.Fatalf("with cs-b full and cs-a draining: %s (%s), %v; want cs-c", resp.Relay.ID, resp.RelayReason, err)
	}
}

// connectWith sends a connect request with a fresh key.
func (c *cm) connectWith(u user, req api.ConnectRequest) (api.ConnectResponse, error) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	req.PublicKey, req.Encryption = string(ssh.MarshalAuthorizedKey(sshPub)), "very_high"
	var resp api.ConnectResponse
	err := c.call(u, http.MethodPost, api.PathConnect, req, &resp)
	return resp, err
}

func TestThePairingReportRecordsTheTransportOnlyFromTheSessionsRelay(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := w.store.GetSession(context.Background(), resp.SessionID)
	if err != nil || sess.Transport != "pending" {
		t.Fatalf("session before pairing: %+v, %v; want transport pending", sess, err)
	}
	report := func(hc *http.Client, relayID string) error {
		return api.Call(context.Background(), hc, http.MethodPost, w.url+api.PathRelayPaired, "",
			api.RelayPaired{RelayID: relayID, SessionID: resp.SessionID, GuestTransport: "http", HostTransport: "tcp"}, nil)
	}
	w.registerRelay(t, api.RelayRegistration{ID: "cs-other", Addr: "127.0.0.1:1972"})
	other := w.relayClient(t, "cs-other")
	if err := report(other, "cs-other"); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("another relay's report: %v, want not_found", err)
	}
	if err := report(other, resp.Relay.ID); !errors.Is(err, access.ErrWrongRelay) {
		t.Fatalf("another relay's report naming the session's relay: %v, want wrong_relay", err)
	}
	if sess, _ := w.store.GetSession(context.Background(), resp.SessionID); sess.Transport != "pending" {
		t.Fatalf("another relay's report set the transport: %+v", sess)
	}
	mine := w.relayClient(t, resp.Relay.ID)
	if err := report(mine, resp.Relay.ID); err != nil {
		t.Fatalf("the session's relay reports: %v", err)
	}
	sess, err = w.store.GetSession(context.Background(), resp.SessionID)
	if err != nil || sess.Transport != "guest=http host=tcp" {
		t.Fatalf("session after pairing: %+v, %v; want transport guest=http host=tcp", sess, err)
	}
}

// heartbeatAnswer sends a heartbeat as h and returns the relays and interval the CM answers.
func heartbeatAnswer(t *testing.T, h hostAgent, url string) (ids []string, interval int64) {
	t.Helper()
	var resp api.HeartbeatResponse
	if err := api.Call(context.Background(), h.client, http.MethodPost, url+api.PathHeartbeat, "", api.Heartbeat{}, &resp); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	for _, r := range resp.Relays {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids, resp.IntervalSeconds
}

func TestAHeartbeatIsAnsweredWithTheRelaysItsTenantMayUseAndANewRelayAtOnce(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	globex := w.enrollRelay(t, "cs-globex-1", "globex")
	if err := w.tryRegister(globex, api.RelayRegistration{ID: "cs-globex-1", Addr: "10.0.0.7:1970", Region: "eu-west"}); err != nil {
		t.Fatalf("register cs-globex-1: %v", err)
	}
	kiosk := w.enroll(t, "kiosk-7", map[string]string{"env": "prod"}, "globex")
	for _, c := range []struct {
		host string
		h    hostAgent
		want []string
	}{
		{"db-1 (acme)", w.hosts["db-1"], []string{"cs-eu-1"}},
		{"kiosk-7 (globex)", kiosk, []string{"cs-eu-1", "cs-globex-1"}},
		{"db-1 (acme) again, from the kept answer", w.hosts["db-1"], []string{"cs-eu-1"}},
	} {
		ids, interval := heartbeatAnswer(t, c.h, w.url)
		if !slices.Equal(ids, c.want) || interval != int64(gateway.DefaultHeartbeatInterval/time.Second) {
			t.Errorf("%s is told relays %v every %ds; want %v every %v", c.host, ids, interval, c.want, gateway.DefaultHeartbeatInterval)
		}
	}
	w.registerRelay(t, api.RelayRegistration{ID: "cs-near", Addr: "127.0.0.1:1971", Region: "eu-west"})
	if ids, _ := heartbeatAnswer(t, w.hosts["db-1"], w.url); !slices.Equal(ids, []string{"cs-eu-1", "cs-near"}) {
		t.Errorf("the heartbeat right after cs-near registered names %v; want it among the relays", ids)
	}
}
