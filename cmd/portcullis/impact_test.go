package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/store"
)

// Story 9's guard: 'policy impact' of the unchanged policy lists nothing, even with the CM's
// own refusal of dave's malformed GET /v1/hosts?tenant=acme in the log (recorded under
// portcullis/api/hosts.list with the label refusal, though no policy decided it) beside
// dave's listing the policy allowed. The log is a real SQLite store read through the CM's API.
func TestPolicyImpactOfTheUnchangedPolicySkipsTheCMsOwnRefusals(t *testing.T) {
	cm := startTestCM(t, "sqlite:"+filepath.Join(t.TempDir(), "cm.db"))
	at := time.Now().Add(-time.Hour).UTC()
	input, err := json.Marshal(policy.Input{
		Subject: policy.Subject{ID: "dave@example.com", Groups: []string{"portcullis-admins"}, AMR: []string{"pwd"}},
		Request: policy.Request{Action: policy.ActionAdminister, Operation: "hosts.list"},
		Context: policy.Context{Time: at, GuestAddr: "203.0.113.0/24"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Decision{
		{ID: "dec_malformed", Allow: false, Reasons: []string{`unknown query parameter "tenant": GET /v1/hosts takes no query parameters`},
			Result: json.RawMessage(`{"allow":false,"reasons":["unknown query parameter \"tenant\": GET /v1/hosts takes no query parameters"]}`),
			Labels: map[string]string{"cm": "cm-1", "operation": "hosts.list", "query": "tenant=acme", policy.LabelRefusal: "bad_request"}},
		{ID: "dec_listed", Allow: true, Reasons: []string{"group portcullis-admins may hosts.list"},
			Result: json.RawMessage(`{"allow":true,"reasons":["group portcullis-admins may hosts.list"]}`),
			Labels: map[string]string{"cm": "cm-1", "operation": "hosts.list"}},
	} {
		d.Time, d.Path, d.Subject, d.Input, d.Revision = at, policy.APIDecisionPath("hosts.list"), "dave@example.com", input, "rev-1"
		if err := cm.store.InsertDecision(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, rego.Files()); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	cfg := policyImpactConfig{guestConfig: cm.signIn(t, "carol@example.com"), Candidate: dir, Since: "1d",
		Until: at.Add(time.Second).Format(time.RFC3339Nano), Format: formatJSON, FailOnChange: true}
	if err := runPolicyImpact(t.Context(), cfg, &out); err != nil {
		t.Fatalf("policy impact of the unchanged policy: %v\n%s", err, out.String())
	}
	var rep struct {
		Replayed int            `json:"replayed"`
		ByPath   map[string]int `json:"replayed_by_path"`
		Skipped  int            `json:"skipped"`
		Refusals int            `json:"skipped_refusals"`
		Changes  []struct {
			DecisionID string `json:"decision_id"`
			Kind       string `json:"kind"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("impact output: %v\n%s", err, out.String())
	}
	if len(rep.Changes) != 0 {
		t.Errorf("the unchanged policy changes %+v", rep.Changes)
	}
	if rep.Replayed != 1 || rep.ByPath[policy.APIDecisionPath("hosts.list")] != 1 || rep.Skipped != 1 || rep.Refusals != 1 {
		t.Errorf("replayed %d %v, skipped %d (%d the CM's refusals); want dave's listing replayed and his malformed one skipped\n%s",
			rep.Replayed, rep.ByPath, rep.Skipped, rep.Refusals, out.String())
	}
}
