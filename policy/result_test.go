package policy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// oldResultJSON is how a result was encoded before resultJSON: through OPA's Go values.
func oldResultJSON(t testing.TB, v ast.Value) []byte {
	t.Helper()
	x, err := ast.JSONWithOpt(v, ast.JSONOpt{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestResultJSONEncodesAsOPAsGoValuesDo(t *testing.T) {
	cases := []string{
		`{"allow": true, "reasons": ["group ops may connect to db-1 (env=prod)"], "obligations": {"max_duration_seconds": 28800, "channels": [], "relay_regions": [], "require_confirm": false}}`,
		`{"allow": false, "reasons": ["group contractors may connect only Monday–Friday 08:00–18:00 Europe/Copenhagen; it is Tuesday 22:00 there"]}`,
		`{"b": 1, "a": [null, true, -3, 1.5, 1e3, 12345678901234567890], "A": {}, "é": "<&>", "\u2028": "tab\tnew\nline \"q\" \\ \u0001"}`,
		`{"z": {"y": {"x": []}}, "": ""}`,
		`[1, "two", {"three": 3}]`,
		`"just a string"`,
		`null`,
		`{"set": {1, 2, "three"}, "nested": [{"b": 2, "a": 1}]}`,
		`{1: "number key", "s": "string key", [1]: "array key"}`,
		`{"big": 123456789012345678901234567890, "neg": -0, "exp": 2E-5}`,
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			term := ast.MustParseTerm(c)
			got, err := resultJSON(term)
			if err != nil {
				t.Fatal(err)
			}
			if want := oldResultJSON(t, term.Value); !bytes.Equal(got, want) {
				t.Errorf("resultJSON = %s\nwant        %s", got, want)
			}
		})
	}
	// A value that is not a term (a query without a captured result) is encoded as it is.
	if got, err := resultJSON(true); err != nil || string(got) != "true" {
		t.Errorf("resultJSON(true) = %s, %v", got, err)
	}
}

// FuzzResultJSON checks resultJSON against encoding through OPA's Go values for any JSON
// document (decision documents are JSON with, at most, sets where arrays would be).
func FuzzResultJSON(f *testing.F) {
	for _, seed := range []string{`{"allow": true, "reasons": ["a<b"], "obligations": {"channels": ["shell"]}}`, `[1.5, "\u00e9", null]`, `{"": {"x": -1}}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		v, err := ast.ValueFromReader(strings.NewReader(doc))
		if err != nil {
			return
		}
		got, err := resultJSON(ast.NewTerm(v))
		if err != nil {
			t.Fatal(err)
		}
		if want := oldResultJSON(t, v); !bytes.Equal(got, want) {
			t.Errorf("resultJSON(%s) = %s, want %s", doc, got, want)
		}
	})
}
