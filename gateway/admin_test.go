package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/store"
)

func TestAdminAPIIsDecidedByPolicyAndRecorded(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	dave, carol, alice := w.login(t, "dave@example.com", ""), w.login(t, "carol@example.com", ""), w.login(t, "alice@example.com", "123456")
	tests := []struct {
		name   string
		as     user
		method string
		path   string
		status int
		op     string
	}{
		{"the auditor lists hosts", carol, http.MethodGet, api.PathHosts, http.StatusOK, "hosts.list"},
		{"the auditor lists relays", carol, http.MethodGet, api.PathRelays, http.StatusOK, "relays.list"},
		{"the auditor may not disable a host", carol, http.MethodPost, api.PathHosts + "/web-1/disable", http.StatusForbidden, "hosts.disable"},
		{"ops may not list hosts", alice, http.MethodGet, api.PathHosts, http.StatusForbidden, "hosts.list"},
		{"ops may not create enrollment tokens", alice, http.MethodPost, api.PathEnrollmentTokens, http.StatusForbidden, "enrollment_tokens.create"},
		{"the admin creates an enrollment token", dave, http.MethodPost, api.PathEnrollmentTokens, http.StatusCreated, "enrollment_tokens.create"},
		{"the admin disables web-1 by name", dave, http.MethodPost, api.PathHosts + "/web-1/disable", http.StatusOK, "hosts.disable"},
		{"the admin enables web-1 again", dave, http.MethodPost, api.PathHosts + "/web-1/enable", http.StatusOK, "hosts.enable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in any
			if tt.method == http.MethodPost {
				in = api.EnrollmentTokenRequest{}
				if strings.HasPrefix(tt.path, api.PathHosts) {
					in = struct{}{}
				}
			}
			before := decisionIDs(t, w.store, tt.as.email)
			err := w.call(tt.as, tt.method, tt.path, in, nil)
			status, body := statusOf(err)
			if err == nil {
				status = tt.status // a 2xx answer
			}
			if status != tt.status {
				t.Fatalf("got %d %+v (%v), want %d", status, body, err, tt.status)
			}
			// The decision is in the log under portcullis/api/<operation>, allow or deny.
			var added []store.Decision
			for id, d := range decisionIDs(t, w.store, tt.as.email) {
				if _, seen := before[id]; !seen {
					added = append(added, d)
				}
			}
			if len(added) != 1 || added[0].Path != "portcullis/api/"+tt.op || added[0].Allow != (tt.status < 300) {
				t.Fatalf("new decisions of %s = %+v, want one at portcullis/api/%s allow=%t", tt.as.email, added, tt.op, tt.status < 300)
			}
			if tt.status == http.StatusForbidden && (body.DecisionID != added[0].ID || len(body.Reasons) == 0) {
				t.Errorf("refusal %+v must name the decision %s and its reasons", body, added[0].ID)
			}
		})
	}
}

// decisionIDs returns the decision records about subject by id.
func decisionIDs(t *testing.T, st *store.DB, subject string) map[string]store.Decision {
	t.Helper()
	ds, _, err := st.ListDecisions(context.Background(), store.DecisionFilter{Subject: subject, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Decision{}
	for _, d := range ds {
		out[d.ID] = d
	}
	return out
}

func TestDisabledHostIsRefusedEverywhereAndADeletedOneForgotten(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	dave, alice := w.login(t, "dave@example.com", ""), w.login(t, "alice@example.com", "123456")
	db1 := w.hosts["db-1"]
	var info api.HostInfo
	if err := w.call(dave, http.MethodPost, api.PathHosts+"/"+db1.id+"/disable", struct{}{}, &info); err != nil || !info.Disabled {
		t.Fatalf("disable: %+v, %v", info, err)
	}
	if status, _ := statusOf(heartbeat(db1, w.url)); status != http.StatusForbidden {
		t.Errorf("a disabled host's heartbeat: %d, want 403", status)
	}
	err := api.Call(context.Background(), db1.client, http.MethodGet, w.url+api.PathHostRequests, "", nil, nil)
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Errorf("a disabled host's long-poll: %v, want 403", err)
	}
	_, _, err = w.connect(alice, "db-1", "exec")
	if status, body := statusOf(err); status != http.StatusForbidden || !strings.Contains(strings.Join(body.Reasons, ";"), "host is disabled") {
		t.Errorf("connect to a disabled host: %d %+v", status, body)
	}
	if err := w.call(dave, http.MethodPost, api.PathHosts+"/db-1/enable", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := heartbeat(db1, w.url); err != nil {
		t.Errorf("re-enabled host's heartbeat: %v", err)
	}
	if err := w.call(dave, http.MethodDelete, api.PathHosts+"/db-1", nil, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if status, body := statusOf(heartbeat(db1, w.url)); status != http.StatusUnauthorized || body.Reason != access.ErrUnknownHost {
		t.Errorf("a deleted host's heartbeat: %d %+v, want 401 unknown_host", status, body)
	}
	if status, _ := statusOf(w.call(dave, http.MethodDelete, api.PathHosts+"/db-1", nil, nil)); status != http.StatusNotFound {
		t.Errorf("deleting twice: %d, want 404", status)
	}
}

// A Host disabled behind this replica's back (by another replica, straight in the store) while
// it waits for mail is trusted for HostAuthTTL at most: past it, the long-poll that was woken
// reads the store before handing anything over, and refuses the Host.
func TestAHostDisabledWhileItWaitsIsRefusedItsMailOnceTheTrustInItLapses(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	dave, alice := w.login(t, "dave@example.com", ""), w.login(t, "alice@example.com", "123456")
	db1 := w.hosts["db-1"]
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	if reqs := w.hostRequests(t, "db-1"); len(reqs) != 1 || reqs[0].SessionID != resp.SessionID {
		t.Fatalf("the Host got %+v, want the request of %s", reqs, resp.SessionID)
	}
	polled := make(chan error, 1)
	go func() {
		polled <- api.Call(context.Background(), db1.client, http.MethodGet, w.url+api.PathHostRequests, "", nil, &api.HostRequests{})
	}()
	waitFor(t, crossReplicaDeadline, "the Host's long-poll to wait", func() bool { return longPolls(t, w.cm) == 1 })
	if err := w.store.SetHostDisabled(context.Background(), db1.id, true); err != nil {
		t.Fatal(err)
	}
	w.later.Add(int64(gateway.DefaultHostAuthTTL))
	w.lock(t, dave, api.LockRequest{Session: resp.SessionID, Reason: "incident"}) // wakes the long-poll
	if status, body := statusOf(await(t, polled, "the woken long-poll")); status != http.StatusForbidden {
		t.Fatalf("the disabled Host's woken long-poll: %d %+v, want 403", status, body)
	}
}

func TestHostRenewsItsCertificateAndTheOldOneStopsWorking(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	old := w.hosts["web-1"]
	renewed, resp := renewAt(t, w.cm, old)
	if err := heartbeat(renewed, w.url); err != nil {
		t.Fatalf("heartbeat with the renewed certificate: %v", err)
	}
	if status, body := statusOf(heartbeat(freshConnections(old), w.url)); status != http.StatusUnauthorized || body.Reason != access.ErrCredentialMismatch {
		t.Errorf("heartbeat with the replaced certificate: %d %+v, want 401", status, body)
	}
	if time.Until(resp.ExpiresAt) < 29*24*time.Hour {
		t.Errorf("renewed certificate expires %s, want the host certificate lifetime", resp.ExpiresAt)
	}
}

// A heartbeat with the old certificate that lands while the CM renews the Host's can cache the
// old serial just before the new one is recorded. The state that leaves is built here without
// the race: the CM trusts the old serial (its clock stands still, so that trust never lapses)
// and the store holds a new one. The new certificate works at once; the old one is refused.
func TestACertificateRecordedAfterTheCMCachedTheOldSerialWorksAtOnce(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	old := w.hosts["web-1"]
	if err := heartbeat(old, w.url); err != nil {
		t.Fatalf("heartbeat with the enrolment certificate: %v", err)
	}
	der, err := w.ca.IssueClientCert(old.key.Public(), "host:"+old.id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.SetHostCertSerial(context.Background(), old.id, cert.SerialNumber.String()); err != nil {
		t.Fatal(err)
	}
	renewed := hostAgent{id: old.id, key: old.key, client: w.clientWith(der, old.key)}
	if err := heartbeat(renewed, w.url); err != nil {
		t.Fatalf("heartbeat with the newly recorded certificate while the old serial was cached: %v", err)
	}
	if status, body := statusOf(heartbeat(freshConnections(old), w.url)); status != http.StatusUnauthorized || body.Reason != access.ErrCredentialMismatch {
		t.Errorf("heartbeat with the replaced certificate: %d %+v, want 401 %s", status, body, access.ErrCredentialMismatch)
	}
}

// renewAt has Host h renew its certificate at the CM c and returns the Host with the new one.
func renewAt(t *testing.T, c *cm, h hostAgent) (hostAgent, api.HostRenewResponse) {
	t.Helper()
	var resp api.HostRenewResponse
	if err := api.Call(context.Background(), h.client, http.MethodPost, c.url+api.PathHostRenew, "", struct{}{}, &resp); err != nil {
		t.Fatalf("renew at %s: %v", c.url, err)
	}
	return hostAgent{id: h.id, key: h.key, client: c.clientWithPEM(t, h.key, resp.Certificate)}, resp
}

// freshConnections returns h with a client that shares none of h's open connections, so that
// each request shows h's certificate in a new TLS handshake.
func freshConnections(h hostAgent) hostAgent {
	tlsConfig := h.client.Transport.(*http.Transport).TLSClientConfig
	return hostAgent{id: h.id, key: h.key, client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}}
}

// signedHeartbeat builds a heartbeat of h signed with key.
func signedHeartbeat(id string, key ed25519.PrivateKey, at time.Time, counter int64) api.SignedHeartbeat {
	hb := api.SignedHeartbeat{HostID: id, Time: at, Counter: counter}
	hb.Signature = ed25519.Sign(key, hb.SigningBytes())
	return hb
}

func TestSignedHeartbeatsOverPlainHTTP(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	gw := w.gateway
	plain := httptest.NewServer(gw.PlainHeartbeatHandler())
	t.Cleanup(plain.Close)
	web1, db1 := w.hosts["web-1"], w.hosts["db-1"]
	send := func(hb any) (int, api.Error) {
		err := api.Call(context.Background(), http.DefaultClient, http.MethodPost, plain.URL+api.PathSignedHeartbeat, "", hb, nil)
		if err == nil {
			return http.StatusOK, api.Error{}
		}
		return statusOf(err)
	}
	forged := signedHeartbeat(web1.id, web1.key, w.now, 50)
	forged.Counter = 51
	tests := []struct {
		name   string
		hb     any
		status int
		reason access.Code
	}{
		{"a fresh heartbeat", signedHeartbeat(web1.id, web1.key, w.now, 10), http.StatusOK, ""},
		{"the same heartbeat again", signedHeartbeat(web1.id, web1.key, w.now, 10), http.StatusUnauthorized, access.ErrReplayed},
		{"an older counter", signedHeartbeat(web1.id, web1.key, w.now, 9), http.StatusUnauthorized, access.ErrReplayed},
		{"the next counter", signedHeartbeat(web1.id, web1.key, w.now.Add(time.Second), 11), http.StatusOK, ""},
		{"too old", signedHeartbeat(web1.id, web1.key, w.now.Add(-2*time.Minute), 12), http.StatusUnauthorized, access.ErrStale},
		{"from the future", signedHeartbeat(web1.id, web1.key, w.now.Add(2*time.Minute), 13), http.StatusUnauthorized, access.ErrStale},
		{"signed by another host's key", signedHeartbeat(web1.id, db1.key, w.now, 14), http.StatusUnauthorized, access.ErrBadSignature},
		{"counter changed after signing", forged, http.StatusUnauthorized, access.ErrBadSignature},
		{"unknown host", signedHeartbeat("h_nope", web1.key, w.now, 15), http.StatusUnauthorized, access.ErrUnknownHost},
		{"not signed", map[string]any{"host_id": web1.id, "time": w.now, "counter": 16}, http.StatusBadRequest, ""},
		{"unknown field", map[string]any{"host_id": web1.id, "time": w.now, "counter": 16, "signature": make([]byte, 64), "admin": true}, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		status, body := send(tt.hb)
		if status != tt.status || body.Reason != tt.reason {
			t.Errorf("%s: %d %+v, want %d %s", tt.name, status, body, tt.status, tt.reason)
		}
	}
	if err := w.store.SetHostDisabled(context.Background(), web1.id, true); err != nil {
		t.Fatal(err)
	}
	if status, _ := send(signedHeartbeat(web1.id, web1.key, w.now, 20)); status != http.StatusForbidden {
		t.Errorf("a disabled host's signed heartbeat: %d, want 403", status)
	}
	// Only signed heartbeats are served on the plain listener.
	resp, err := http.Post(plain.URL+api.PathHeartbeat, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("plain listener served %s: %d", api.PathHeartbeat, resp.StatusCode)
	}
}
