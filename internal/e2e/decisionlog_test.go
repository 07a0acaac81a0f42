package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/rego"
)

// Stories 5 and 6 with the real CLI: carol lists the denials of the last 24 h; mallory's
// query is refused, and carol then finds that refusal in the log.
func TestAuditorQueriesTheLogAndMalloryIsRefusedOnRecord(t *testing.T) {
	if _, _, code := guest(t, "mallory@example.com", "exec", "db-1", "--", "true"); code != 77 {
		t.Fatalf("mallory's connect: exit %d, want 77", code)
	}
	out, stderr, code := guest(t, "carol@example.com", "logs", "query", "--deny", "--since", "24h", "--format", "ndjson", "--limit", "0")
	if code != 0 {
		t.Fatalf("carol's query: exit %d\n%s", code, stderr)
	}
	denials := decodeNDJSON(t, out)
	if len(denials) == 0 {
		t.Fatal("carol sees no denials")
	}
	for _, d := range denials {
		if d.Allow {
			t.Errorf("--deny listed an allowed decision %s", d.ID)
		}
	}

	_, stderr, code = guest(t, "mallory@example.com", "logs", "query")
	m := decisionRE.FindStringSubmatch(stderr)
	if code == 0 || m == nil || !strings.Contains(stderr, "belongs to no group") {
		t.Fatalf("mallory's query: exit %d, stderr %q; want a refusal that says why, with its decision", code, stderr)
	}
	out, stderr, code = guest(t, "carol@example.com", "logs", "query", "--subject", "mallory@example.com", "--format", "json")
	if code != 0 {
		t.Fatalf("carol's query: exit %d\n%s", code, stderr)
	}
	var records []api.Decision
	if err := json.Unmarshal([]byte(out), &records); err != nil {
		t.Fatalf("--format json: %v\n%s", err, out)
	}
	i := slices.IndexFunc(records, func(d api.Decision) bool { return d.ID == m[1] })
	if i < 0 || records[i].Allow || !strings.Contains(fmt.Sprint(records[i].Input), "query_decisions") {
		t.Fatalf("mallory's refused query %s is not in the log: %+v", m[1], records)
	}
	for _, format := range []string{"table", "csv"} {
		out, _, code := guest(t, "carol@example.com", "logs", "query", "--subject", "mallory@example.com", "--format", format)
		if code != 0 || !strings.Contains(out, m[1]) {
			t.Errorf("--format %s: exit %d, output lacks %s:\n%s", format, code, m[1], out)
		}
	}
}

// Story 9's tool with the real CLI: a candidate that takes production from ops turns exactly
// alice's recorded allows on db-1 into denials.
func TestPolicyImpactListsTheDecisionsACandidateChanges(t *testing.T) {
	if _, stderr, code := guest(t, "alice@example.com", "exec", "db-1", "--", "true"); code != 0 {
		t.Fatalf("alice's connect: exit %d\n%s", code, stderr)
	}
	dir := t.TempDir()
	for _, name := range []string{"authz.rego", "mask.rego", "input.schema.json"} {
		b, err := fs.ReadFile(rego.Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "authz.rego" {
			b = []byte(strings.Replace(string(b), `"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "staging"}],`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := guest(t, "carol@example.com", "logs", "query", "--subject", "alice@example.com", "--host", "db-1", "--allow", "--limit", "0", "--format", "ndjson")
	if code != 0 {
		t.Fatalf("carol's query: exit %d\n%s", code, stderr)
	}
	want := map[string]bool{}
	for _, d := range decodeNDJSON(t, out) {
		want[d.ID] = true
	}
	out, stderr, code = guest(t, "carol@example.com", "policy", "impact", "--candidate", dir, "--since", "1d", "--format", "json", "--fail-on-change")
	if code != 2 {
		t.Fatalf("policy impact: exit %d, want 2 (changes found)\n%s\n%s", code, out, stderr)
	}
	var rep struct {
		Counts  map[string]int `json:"counts"`
		Changes []struct {
			DecisionID string `json:"decision_id"`
			Kind       string `json:"kind"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("impact output: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, c := range rep.Changes {
		if c.Kind != "allow_to_deny" {
			t.Errorf("change %+v, want only allow_to_deny", c)
		}
		got[c.DecisionID] = true
	}
	if len(got) != len(want) || rep.Counts["allow_to_deny"] != len(want) {
		t.Errorf("impact changed %d decisions %v, want alice's %d allows on db-1", len(got), rep.Counts, len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("alice's allow %s on db-1 is not listed", id)
		}
	}
}

func decodeNDJSON(t *testing.T, out string) []api.Decision {
	t.Helper()
	var ds []api.Decision
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var d api.Decision
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("ndjson: %v\n%s", err, out)
		}
		ds = append(ds, d)
	}
	return ds
}
