package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

// `policy impact` with the real CLI replays the admin and auditor API decisions too: a
// candidate api.rego that takes hosts.list from the auditors lists exactly carol's recorded
// host listings, under their path, and nothing else: not dave's malformed listing, the CM's own
// refusal recorded under the same path, which no policy decided and impact never replays.
func TestPolicyImpactListsTheAPIDecisionsACandidateChanges(t *testing.T) {
	if _, stderr, code := guest(t, "carol@example.com", "hosts", "list"); code != 0 {
		t.Fatalf("carol lists hosts: exit %d\n%s", code, stderr)
	}
	dave := sys.users["dave@example.com"]
	err := api.Call(context.Background(), dave.Client, http.MethodGet, sys.c.CMURL+api.PathHosts+"?tenant=acme", dave.IDToken, nil, nil)
	se, ok := api.AsStatus(err)
	if !ok || se.Status != http.StatusBadRequest || se.Body.DecisionID == "" {
		t.Fatalf("dave's GET /v1/hosts?tenant=acme: %v, want 400 with its decision record", err)
	}
	malformed := se.Body.DecisionID
	dir := t.TempDir()
	err = fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if err != nil {
			return err
		}
		if p == "api.rego" {
			b = []byte(strings.Replace(string(b), `"auditors": {"hosts.list", `, `"auditors": {`, 1))
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := guest(t, "carol@example.com", "logs", "query", "--subject", "carol@example.com", "--allow", "--limit", "0", "--format", "ndjson")
	if code != 0 {
		t.Fatalf("carol's query: exit %d\n%s", code, stderr)
	}
	want := map[string]bool{}
	for _, d := range decodeNDJSON(t, out) {
		if d.Path == policy.APIDecisionPath("hosts.list") {
			want[d.ID] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("carol's host listing is not on record")
	}
	out, stderr, code = guest(t, "carol@example.com", "policy", "impact", "--candidate", dir, "--since", "1d", "--format", "json")
	if code != 0 {
		t.Fatalf("policy impact: exit %d\n%s\n%s", code, out, stderr)
	}
	var rep struct {
		ByPath   map[string]int `json:"replayed_by_path"`
		Refusals int            `json:"skipped_refusals"`
		Changes  []struct {
			DecisionID string `json:"decision_id"`
			Path       string `json:"path"`
			Kind       string `json:"kind"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("impact output: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, c := range rep.Changes {
		if c.Kind != policy.ChangeAllowToDeny || c.Path != policy.APIDecisionPath("hosts.list") {
			t.Errorf("change %+v, want only hosts.list allow_to_deny", c)
		}
		if c.DecisionID == malformed {
			t.Errorf("dave's malformed listing %s, the CM's own refusal, is listed as %s", malformed, c.Kind)
		}
		got[c.DecisionID] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("carol's hosts.list %s is not listed", id)
		}
	}
	if rep.Refusals == 0 {
		t.Errorf("impact skipped none of the CM's own refusals, dave's %s among them", malformed)
	}
	if len(got) != len(want) || rep.ByPath[policy.DecisionPath] == 0 {
		t.Errorf("impact changed %d decisions (replayed %v), want carol's %d host listings and the connections replayed", len(got), rep.ByPath, len(want))
	}
}
