package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/ticket"
)

// world is a CM with the SCENARIOS hosts enrolled and online, and cs-eu-1 registered.
type world struct {
	*cm
	hosts map[string]hostAgent
}

func startWorld(t testing.TB, opts ...cmOption) *world {
	t.Helper()
	w := &world{cm: startCM(t, opts...), hosts: map[string]hostAgent{}}
	w.registerRelay(t, api.RelayRegistration{ID: "cs-eu-1", Addr: "127.0.0.1:1970", Region: "eu-north", Owner: "vendor"})
	for _, h := range []struct {
		name, tenant string
		tags         map[string]string
	}{
		{"web-1", "acme", map[string]string{"env": "staging", "team": "web"}},
		{"db-1", "acme", map[string]string{"env": "prod", "team": "data"}},
	} {
		agent := w.enroll(t, h.name, h.tags, h.tenant)
		if err := heartbeat(agent, w.url); err != nil {
			t.Fatalf("heartbeat %s: %v", h.name, err)
		}
		w.hosts[h.name] = agent
	}
	return w
}

func TestConnectAllowedMintsTicketsCertificateAndTellsTheHost(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}

	// The decision record was committed, and says allow.
	d, err := w.store.GetDecision(context.Background(), resp.DecisionID)
	if err != nil {
		t.Fatalf("decision record: %v", err)
	}
	if !d.Allow || d.Subject != "alice@example.com" || d.HostName != "db-1" || d.Revision == "" || len(d.Input) == 0 {
		t.Errorf("decision record = %+v", d)
	}

	// The Guest's ticket verifies at the chosen relay, as a guest ticket for this session.
	v := &ticket.Verifier{Keys: w.keys, Audience: resp.Relay.ID, Replay: &ticket.ReplayCache{}, Now: func() time.Time { return w.now }}
	claims, err := v.Verify(resp.Ticket, access.RoleGuest)
	if err != nil {
		t.Fatalf("guest ticket: %v", err)
	}
	if claims.SessionID != resp.SessionID || claims.DecisionID != resp.DecisionID || claims.Subject != "alice@example.com" {
		t.Errorf("ticket claims = %+v", claims)
	}
	if resp.Relay.ID != "cs-eu-1" {
		t.Errorf("relay = %+v", resp.Relay)
	}

	// The certificate is the CM user CA's, for alice, bound to this session.
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	cert := key.(*ssh.Certificate)
	if !slices.Equal(cert.ValidPrincipals, []string{"alice@example.com"}) || string(cert.SignatureKey.Marshal()) != string(w.sshCA.Marshal()) {
		t.Errorf("certificate principals %v, signed by the user CA: %v", cert.ValidPrincipals, string(cert.SignatureKey.Marshal()) == string(w.sshCA.Marshal()))
	}
	if maxLife := 8 * time.Hour; time.Unix(int64(cert.ValidBefore), 0).Sub(w.now) > maxLife+time.Minute {
		t.Errorf("certificate outlives the policy's 8 h: valid before %v", time.Unix(int64(cert.ValidBefore), 0))
	}

	// The Host gets its half on the long-poll.
	var reqs api.HostRequests
	if err := api.Call(context.Background(), w.hosts["db-1"].client, http.MethodGet, w.url+api.PathHostRequests, "", nil, &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs.Requests) != 1 || reqs.Requests[0].SessionID != resp.SessionID {
		t.Fatalf("host requests = %+v", reqs)
	}
	hostClaims, err := v.Verify(reqs.Requests[0].Ticket, access.RoleHost)
	if err != nil {
		t.Fatalf("host ticket: %v", err)
	}
	if hostClaims.SessionID != resp.SessionID || hostClaims.GuestKeyFP != claims.GuestKeyFP {
		t.Errorf("host ticket claims = %+v", hostClaims)
	}

	// The session is recorded, with the maximum duration the relay and the Host enforce, and
	// the API says when it ends.
	sess, err := w.store.GetSession(context.Background(), resp.SessionID)
	if err != nil || sess.DecisionID != resp.DecisionID || sess.RelayID != "cs-eu-1" {
		t.Errorf("session = %+v, %v", sess, err)
	}
	if want := claims.Obligations.MaxDuration(); want <= 0 || sess.MaxDuration != want {
		t.Errorf("session's maximum duration = %v, want the obligation's %v", sess.MaxDuration, want)
	}
	dave := w.login(t, "dave@example.com", "")
	var view api.Session
	if err := w.call(dave, http.MethodGet, api.PathSessions+"/"+resp.SessionID, nil, &view); err != nil {
		t.Fatal(err)
	}
	if view.MaxDurationSeconds == nil || *view.MaxDurationSeconds != claims.Obligations.MaxDurationSeconds ||
		view.EndsAt == nil || !view.EndsAt.Equal(view.StartedAt.Add(claims.Obligations.MaxDuration())) {
		t.Errorf("the API's session = %+v, want it to end %v after its start", view, claims.Obligations.MaxDuration())
	}
}

// TestASessionLongerThanTheCMAllowsIsCutAtTheCMsLimitEverywhere: a policy granting more than
// the CM's MaxSession (or no limit at all) gets MaxSession, and so do the tickets, which the
// relay enforces on its own: they carried the policy's longer limit, or 0 (no limit at the
// relay), while only the Guest's certificate was cut.
func TestASessionLongerThanTheCMAllowsIsCutAtTheCMsLimitEverywhere(t *testing.T) {
	t.Parallel()
	w := startWorld(t, withConfig(func(c *gateway.Config) { c.MaxSession = time.Hour })) // ops may stay 8 h
	alice := w.login(t, "alice@example.com", "123456")
	resp, _, err := w.connect(alice, "db-1", "shell")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	v := &ticket.Verifier{Keys: w.keys, Audience: resp.Relay.ID, Replay: &ticket.ReplayCache{}, Now: func() time.Time { return w.now }}
	claims, err := v.Verify(resp.Ticket, access.RoleGuest)
	if err != nil {
		t.Fatal(err)
	}
	hostClaims, err := v.Verify(w.hostRequests(t, "db-1")[0].Ticket, access.RoleHost)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Obligations.MaxDurationSeconds != 3600 || hostClaims.Obligations.MaxDurationSeconds != 3600 {
		t.Errorf("tickets allow %d and %d s, want the CM's 3600", claims.Obligations.MaxDurationSeconds, hostClaims.Obligations.MaxDurationSeconds)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Unix(int64(key.(*ssh.Certificate).ValidBefore), 0).Sub(w.now); life > time.Hour+time.Minute {
		t.Errorf("the certificate lives %v, want at most the CM's hour", life)
	}
	sess, err := w.store.GetSession(context.Background(), resp.SessionID)
	if err != nil || sess.MaxDuration != time.Hour {
		t.Errorf("session's maximum duration = %v (%v), want the CM's hour", sess.MaxDuration, err)
	}
	d, err := w.store.GetDecision(context.Background(), resp.DecisionID)
	if err != nil || !strings.Contains(string(d.Result), `"max_duration_seconds":28800`) {
		t.Errorf("the decision record should keep what the policy decided (8 h): %s, %v", d.Result, err)
	}
}

func TestConnectRefusals(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	tests := []struct {
		name       string
		as         user
		host       string
		wantStatus int
		wantCode   access.Code
		wantReason string
	}{
		{"no groups", w.login(t, "mallory@example.com", ""), "db-1", http.StatusForbidden, access.ErrDenied, ""},
		{"production without MFA", w.login(t, "alice@example.com", ""), "db-1", http.StatusForbidden, access.ErrDenied, "MFA is required for production"},
		{"auditor", w.login(t, "carol@example.com", ""), "web-1", http.StatusForbidden, access.ErrDenied, ""},
		{"unknown host", w.login(t, "alice@example.com", "123456"), "nowhere-9", http.StatusForbidden, access.ErrDenied, "unknown host"},
		{"no token", user{client: w.login(t, "alice@example.com", "123456").client}, "db-1", http.StatusUnauthorized, access.ErrUnauthenticated, string(access.ErrMissingToken)},
		{"forged token", user{token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln", client: w.login(t, "alice@example.com", "123456").client}, "db-1", http.StatusUnauthorized, access.ErrUnauthenticated, "bad_signature"},
		{"stolen bearer token without the bound key", user{token: w.login(t, "alice@example.com", "123456").token}, "db-1", http.StatusUnauthorized, access.ErrUnauthenticated, string(access.ErrCredentialRequired)},
		{"someone else's certificate with alice's token", user{token: w.login(t, "alice@example.com", "123456").token, client: w.login(t, "mallory@example.com", "").client}, "db-1", http.StatusUnauthorized, access.ErrUnauthenticated, string(access.ErrCredentialMismatch)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.connect(tt.as, tt.host, "exec")
			status, body := statusOf(err)
			if status != tt.wantStatus || body.Code != tt.wantCode {
				t.Fatalf("got %d %+v (%v), want %d %s", status, body, err, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus != http.StatusForbidden {
				if string(body.Reason) != tt.wantReason {
					t.Errorf("reason = %q, want %q", body.Reason, tt.wantReason)
				}
				return
			}
			if len(body.Reasons) == 0 || body.DecisionID == "" {
				t.Fatalf("a denial must carry reasons and a decision id: %+v", body)
			}
			if tt.wantReason != "" && !strings.Contains(strings.Join(body.Reasons, "; "), tt.wantReason) {
				t.Errorf("reasons %q lack %q", body.Reasons, tt.wantReason)
			}
			d, err := w.store.GetDecision(context.Background(), body.DecisionID)
			if err != nil || d.Allow {
				t.Errorf("denial not recorded as a deny: %+v, %v", d, err)
			}
		})
	}
}

func TestConnectFailsClosedWhenTheDecisionLogIsDown(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	w.store.Close()
	resp, _, err := w.connect(alice, "db-1", "exec")
	status, body := statusOf(err)
	if status != http.StatusServiceUnavailable || resp.Ticket != "" {
		t.Fatalf("with the store down: %d %+v, ticket %q; want 503 and no ticket", status, body, resp.Ticket)
	}
}

func TestConnectMalformedRequests(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	for name, body := range map[string]any{
		"not json":       "{",
		"unknown field":  map[string]any{"host": "db-1", "channels": []string{"exec"}, "public_key": "x", "admin": true},
		"bad host name":  api.ConnectRequest{Host: "../etc", Channels: []string{"exec"}},
		"no channels":    api.ConnectRequest{Host: "db-1"},
		"empty channels": api.ConnectRequest{Host: "db-1", Channels: []string{}, PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"},
		"bad public key": api.ConnectRequest{Host: "db-1", Channels: []string{"exec"}, PublicKey: "ssh-ed25519 AAAA"},
	} {
		t.Run(name, func(t *testing.T) {
			before, _, _ := w.store.ListDecisions(context.Background(), store.DecisionFilter{Limit: 1000})
			err := w.call(alice, http.MethodPost, api.PathConnect, body, nil)
			if status, _ := statusOf(err); status != http.StatusBadRequest {
				t.Fatalf("status = %d (%v), want 400", status, err)
			}
			after, _, _ := w.store.ListDecisions(context.Background(), store.DecisionFilter{Limit: 1000})
			if len(after) != len(before) {
				t.Errorf("a malformed request changed the decision log")
			}
		})
	}
}

func TestOfflineHostIsRefusedAfterTheDecision(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	w.now = w.now.Add(time.Hour) // no heartbeat for an hour
	_, _, err := w.connect(w.login(t, "alice@example.com", "123456"), "db-1", "exec")
	status, body := statusOf(err)
	if status != http.StatusConflict || body.Code != access.ErrHostOffline {
		t.Fatalf("got %d %+v, want 409 host_offline", status, body)
	}
	d, err := w.store.GetDecision(context.Background(), body.DecisionID)
	if err != nil || !d.Allow || d.Labels["outcome"] != string(access.ErrHostOffline) || d.Labels["session_id"] != "" {
		t.Fatalf("decision record = %+v, %v; want the policy's allow, with the outcome host_offline and no session", d, err)
	}
}

func TestAnAllowRecordNamesTheSessionThatCommittedWithIt(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	resp, _, err := w.connect(w.login(t, "alice@example.com", "123456"), "db-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.store.GetDecision(context.Background(), resp.DecisionID)
	if err != nil || d.Labels["outcome"] != "granted" || d.Labels["session_id"] != resp.SessionID {
		t.Fatalf("decision record = %+v, %v; want outcome granted, session %s", d, err, resp.SessionID)
	}
	if sess, err := w.store.GetSession(context.Background(), resp.SessionID); err != nil || sess.DecisionID != resp.DecisionID {
		t.Fatalf("session = %+v, %v; want the decision's", sess, err)
	}
}
