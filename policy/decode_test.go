package policy

import (
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// invalidUTF8 is a decision whose reason becomes a string that is not UTF-8.
const invalidUTF8 = `{"allow": true}`

// TestDecodeDecisionValueDecodesAsTheJSONPath requires the AST decoder to give exactly what
// decodeDecision gives on the document's JSON, and to leave every odd shape to it.
func TestDecodeDecisionValueDecodesAsTheJSONPath(t *testing.T) {
	cases := []struct {
		doc  string
		fast bool // decoded without JSON
	}{
		{`{"allow": true, "reasons": ["group ops may connect"], "obligations": {"max_duration_seconds": 28800, "min_encryption": "very_high", "channels": ["exec"], "forward_targets": [], "require_confirm": true, "private_relays_only": false, "relay_regions": ["eu"]}}`, true},
		{`{"allow": false, "reasons": ["no"], "obligations": {"max_duration_seconds": 0, "min_encryption": "", "channels": [], "forward_targets": [], "require_confirm": false, "private_relays_only": false, "relay_regions": []}}`, true},
		{`{"allow": false, "reasons": [], "extra": 1}`, true},
		{`{"allow": false}`, true},
		{`{"allow": true, "obligations": {}}`, true},
		{`{"allow": true, "obligations": {"max_duration_seconds": -0}}`, true},
		{`{"allow": true, "reasons": null}`, false},
		{`{"allow": null}`, false},
		{`{"allow": "yes"}`, false},
		{`{"reasons": ["x"]}`, false},
		{`{"allow": true, "reasons": ["a", 1]}`, false},
		{`{"allow": true, "reasons": "a"}`, false},
		{`{"allow": true, "obligations": {"MAX_DURATION_SECONDS": 5}}`, false},
		{`{"allow": true, "obligations": {"max_duration_seconds": 1.5}}`, false},
		{`{"allow": true, "obligations": {"max_duration_seconds": -1}}`, false},
		{`{"allow": false, "obligations": {"max_duration_seconds": -60}}`, false},
		{`{"allow": true, "obligations": {"max_duration_seconds": 3e3}}`, false},
		{`{"allow": true, "obligations": {"max_duration_seconds": 123456789012345678901234567890}}`, false},
		{`{"allow": true, "obligations": {"channels": null}}`, false},
		{`{"allow": true, "obligations": {"channels": {"shell"}}}`, false},
		{`{"allow": true, "obligations": {"require_confirm": "true"}}`, false},
		{`{"allow": true, "obligations": {"teleport": true}}`, false},
		{`{"allow": true, "obligations": {1: true}}`, false},
		{`{"allow": true, "obligations": []}`, false},
		{invalidUTF8, false},
		{`["allow"]`, false},
		{`null`, false},
	}
	for _, c := range cases {
		t.Run(c.doc, func(t *testing.T) {
			term, err := ast.ParseTerm(c.doc)
			if err != nil {
				t.Fatal(err)
			}
			if c.doc == invalidUTF8 {
				term.Value.(ast.Object).Insert(ast.InternedTerm("reasons"), ast.ArrayTerm(ast.StringTerm("\xff")))
			}
			fast, ok := decodeDecisionValue(term)
			if ok != c.fast {
				t.Fatalf("decoded without JSON: %v, want %v", ok, c.fast)
			}
			raw, err := resultJSON(term)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := decodeDecision(raw)
			if ok && (err != nil || !reflect.DeepEqual(fast, slow)) {
				t.Errorf("AST decoder %+v, JSON decoder %+v (%v)", fast, slow, err)
			}
		})
	}
}
