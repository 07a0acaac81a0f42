package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/store"
)

func TestASubjectReadsItsOwnRecordWithoutOtherTenantsRelays(t *testing.T) {
	t.Parallel()
	relays := `"relays":[{"id":"cs-eu-1","owner":"vendor","private":false},{"id":"cs-acme-1","owner":"acme","private":true},{"id":"cs-globex-1","owner":"globex","private":true}]`
	tests := []struct {
		name       string
		input      string
		labels     map[string]string
		wantInput  []string // substrings the view's input holds
		never      []string // substrings neither input nor labels may hold
		wantReason string
	}{
		{
			name:      "acme's session",
			input:     `{"host":{"name":"db-1","tenant":"acme"},"context":{` + relays + `}}`,
			labels:    map[string]string{"relay": "cs-eu-1", "relay_reason": "cs-eu-1 …; skipped cs-globex-1 (another tenant's private relay)", "relay_reason_shown": "cs-eu-1 …"},
			wantInput: []string{"cs-eu-1", "cs-acme-1"}, never: []string{"globex"}, wantReason: "cs-eu-1 …",
		},
		{
			name:      "a host without a tenant sees no private relay",
			input:     `{"host":{"name":"nowhere-9"},"context":{` + relays + `}}`,
			wantInput: []string{"cs-eu-1"}, never: []string{"globex", "acme"},
		},
		{
			name:   "a record from before the shown reason was kept keeps no relay reason",
			input:  `{"host":{"name":"db-1","tenant":"acme"}}`,
			labels: map[string]string{"relay": "cs-eu-1", "relay_reason": "cs-eu-1 …; skipped cs-globex-1 (another tenant's private relay)"},
			never:  []string{"globex"},
		},
		{name: "an unreadable input is dropped", input: `[1,2]`, never: []string{"1"}},
		{name: "an input erased by the mask", input: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := subjectView(store.Decision{Input: json.RawMessage(tt.input), Labels: tt.labels})
			labels, _ := json.Marshal(d.Labels)
			for _, want := range tt.wantInput {
				if !strings.Contains(string(d.Input), want) {
					t.Errorf("input %s lacks %q", d.Input, want)
				}
			}
			for _, never := range tt.never {
				if strings.Contains(string(d.Input), never) || strings.Contains(string(labels), never) {
					t.Errorf("view names %q: input %s, labels %s", never, d.Input, labels)
				}
			}
			if d.Labels["relay_reason"] != tt.wantReason || d.Labels["relay_reason_shown"] != "" {
				t.Errorf("labels %v, want relay_reason %q only", d.Labels, tt.wantReason)
			}
			if tt.labels != nil && tt.labels["relay_reason"] == "" {
				t.Error("the record itself was changed")
			}
		})
	}
}
