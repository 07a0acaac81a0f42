package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
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
