package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
)

// A Guest learns nothing about other tenants: alice, connecting to acme's db-1 while globex's
// private relay is up, is told which relay carries her session and why, and neither that
// answer nor her own decision record names globex's relay; the record as auditors read it
// still has the whole reason.
func TestTheGuestIsToldNothingAboutAnotherTenantsRelays(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	globex := w.enrollRelay(t, "cs-globex-1", "globex")
	if err := w.tryRegister(globex, api.RelayRegistration{ID: "cs-globex-1", Addr: "10.0.0.7:1970", Region: "eu-west"}); err != nil {
		t.Fatalf("register cs-globex-1: %v", err)
	}
	alice, carol := w.login(t, "alice@example.com", "123456"), w.login(t, "carol@example.com", "")
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatalf("alice → db-1: %v", err)
	}
	if resp.Relay.ID != "cs-eu-1" || !strings.HasPrefix(resp.RelayReason, "cs-eu-1: lowest score") || strings.Contains(resp.RelayReason, "globex") {
		t.Errorf("alice is told relay %s because %q: want cs-eu-1 and no word of globex", resp.Relay.ID, resp.RelayReason)
	}

	rec, err := w.store.GetDecision(context.Background(), resp.DecisionID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Labels["relay_reason"], "cs-globex-1 (another tenant's private relay)") || rec.Labels["relay_reason_shown"] != resp.RelayReason {
		t.Errorf("the record's labels %v: want the whole reason and the one alice was shown", rec.Labels)
	}

	// alice reads her own record: as she may see it.
	var own api.Decision
	if err := w.call(alice, http.MethodGet, api.PathDecisions+"/"+resp.DecisionID, nil, &own); err != nil {
		t.Fatalf("alice reads her record: %v", err)
	}
	raw, _ := json.Marshal(own)
	if strings.Contains(string(raw), "globex") || own.Labels["relay_reason"] != resp.RelayReason || own.Labels["relay"] != "cs-eu-1" {
		t.Errorf("alice's own record names another tenant's relay, or not her relay's reason:\n%s", raw)
	}
	// carol, an auditor, reads it whole.
	var whole api.Decision
	if err := w.call(carol, http.MethodGet, api.PathDecisions+"/"+resp.DecisionID, nil, &whole); err != nil {
		t.Fatalf("carol reads alice's record: %v", err)
	}
	if in, _ := json.Marshal(whole.Input); !strings.Contains(whole.Labels["relay_reason"], "cs-globex-1") || !strings.Contains(string(in), "cs-globex-1") {
		t.Errorf("carol's view of the record lacks the whole reason: %v", whole.Labels)
	}

	// No relay fits: the refusal names no relay of globex either.
	_, err = w.connectWith(alice, api.ConnectRequest{Host: "db-1", Channels: []string{"exec"}, ExcludeRelays: []string{"cs-eu-1"}})
	status, body := statusOf(err)
	if status != http.StatusServiceUnavailable || body.Code != access.ErrNoRelay || strings.Contains(body.Message, "globex") ||
		!strings.Contains(body.Message, "no relay fits among 1 candidates") {
		t.Errorf("no relay fits: %d %+v, want no_relay that does not name globex", status, body)
	}
}

// Relay probes name a tenant's private relays only to a Guest the policy would let connect to
// that tenant's Host: alice, about to reach globex's kiosk-7, probes cs-globex-1; mallory and
// bob, naming the same Host, learn only of the vendor's relays.
func TestRelayProbesNameAnotherTenantsRelaysOnlyToWhoMayConnect(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	globex := w.enrollRelay(t, "cs-globex-1", "globex")
	if err := w.tryRegister(globex, api.RelayRegistration{ID: "cs-globex-1", Addr: "10.0.0.7:1970", Region: "eu-west"}); err != nil {
		t.Fatalf("register cs-globex-1: %v", err)
	}
	kiosk := w.enroll(t, "kiosk-7", map[string]string{"env": "prod", "site": "store-7"}, "globex")
	if err := heartbeat(kiosk, w.url); err != nil {
		t.Fatal(err)
	}
	probe := func(u user, query string) ([]string, error) {
		var targets []api.RelayAddr
		err := w.call(u, http.MethodGet, api.PathRelayProbes+query, nil, &targets)
		var ids []string
		for _, r := range targets {
			ids = append(ids, r.ID)
		}
		return ids, err
	}
	tests := []struct {
		who        string
		otp        string
		wantGlobex bool
	}{
		{"alice@example.com", "123456", true},
		{"bob@example.com", "", false},
		{"mallory@example.com", "", false},
	}
	for _, tt := range tests {
		u := w.login(t, tt.who, tt.otp)
		ids, err := probe(u, "?host=kiosk-7")
		if err != nil || !slices.Contains(ids, "cs-eu-1") || slices.Contains(ids, "cs-globex-1") != tt.wantGlobex {
			t.Errorf("%s probes %v (%v); want cs-eu-1, and cs-globex-1: %v", tt.who, ids, err, tt.wantGlobex)
		}
	}
	alice := w.login(t, "alice@example.com", "123456")
	if _, err := probe(alice, "?host=kiosk-7&tenant=globex"); !errors.Is(err, access.ErrBadRequest) {
		t.Errorf("an unknown query parameter: %v, want bad_request", err)
	}
}
