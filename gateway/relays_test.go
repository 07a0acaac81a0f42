package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
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
	w := startWorld(t)
	globex := w.enrollRelay(t, "cs-globex-1", "globex")
	vendor := w.vendorRelayClient(t)
	cases := []struct {
		name string
		hc   *http.Client
		reg  api.RelayRegistration
		want int
	}{
		{"vendor certificate claims a private relay", vendor, api.RelayRegistration{ID: "cs-x", Addr: "h:1", Owner: "globex", Private: true}, http.StatusForbidden},
		{"vendor certificate claims an enrolled relay's id", vendor, api.RelayRegistration{ID: "cs-globex-1", Addr: "h:1"}, http.StatusForbidden},
		{"tenant relay claims another id", globex, api.RelayRegistration{ID: "cs-eu-1", Addr: "h:1"}, http.StatusForbidden},
		{"no client certificate", w.http, api.RelayRegistration{ID: "cs-y", Addr: "h:1"}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if st, _ := statusOf(w.tryRegister(tc.hc, tc.reg)); st != tc.want {
				t.Fatalf("status %d, want %d", st, tc.want)
			}
		})
	}
	// A forged "relay:" certificate for an id never enrolled is refused.
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	der, err := w.ca.IssueClientCert(pub, "relay:cs-ghost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := statusOf(w.tryRegister(w.clientWith(der, key), api.RelayRegistration{ID: "cs-ghost", Addr: "h:1"})); st != http.StatusUnauthorized {
		t.Fatalf("unenrolled relay certificate: status %d, want 401", st)
	}
}

func TestTheRelayWithTheLowestLatencyPlusLoadIsChosenAndFailoverExcludesTheFailedOne(t *testing.T) {
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
	vendor := w.vendorRelayClient(t)
	report := func(relayID string) error {
		return api.Call(context.Background(), vendor, http.MethodPost, w.url+api.PathRelayPaired, "",
			api.RelayPaired{RelayID: relayID, SessionID: resp.SessionID, GuestTransport: "http", HostTransport: "tcp"}, nil)
	}
	w.registerRelay(t, api.RelayRegistration{ID: "cs-other", Addr: "127.0.0.1:1972"})
	if st, _ := statusOf(report("cs-other")); st != http.StatusNotFound {
		t.Fatalf("another relay's report: status %d, want 404", st)
	}
	if err := report(resp.Relay.ID); err != nil {
		t.Fatalf("the session's relay reports: %v", err)
	}
	sess, err = w.store.GetSession(context.Background(), resp.SessionID)
	if err != nil || sess.Transport != "guest=http host=tcp" {
		t.Fatalf("session after pairing: %+v, %v; want transport guest=http host=tcp", sess, err)
	}
}
