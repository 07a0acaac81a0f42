package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

// `policy impact` with the real CLI replays the admin and auditor API decisions too: a
// candidate api.rego that takes hosts.list from the auditors lists exactly carol's recorded
// host listings, under their path, and nothing else.
func TestPolicyImpactListsTheAPIDecisionsACandidateChanges(t *testing.T) {
	if _, stderr, code := guest(t, "carol@example.com", "hosts", "list"); code != 0 {
		t.Fatalf("carol lists hosts: exit %d\n%s", code, stderr)
	}
	dir := t.TempDir()
	err := fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
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
		ByPath  map[string]int `json:"replayed_by_path"`
		Changes []struct {
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
		got[c.DecisionID] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("carol's hosts.list %s is not listed", id)
		}
	}
	if len(got) != len(want) || rep.ByPath[policy.DecisionPath] == 0 {
		t.Errorf("impact changed %d decisions (replayed %v), want carol's %d host listings and the connections replayed", len(got), rep.ByPath, len(want))
	}
}
