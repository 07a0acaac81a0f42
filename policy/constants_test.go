package policy

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestConstantRulesReadNothingADecisionChanges: a complete rule is a constant when neither it
// nor anything it calls reads input, uses with, or calls a builtin that may answer
// differently each time; partial rules, functions and rules with a ref head are not.
func TestConstantRulesReadNothingADecisionChanges(t *testing.T) {
	m, err := ast.ParseModuleWithOpts("p.rego", `package p
table := {"a": {"b": [1, true, null, "s", {"x"}]}}
word := "w"
n = 3
from_call := count([1])
from_ref := table.a
from_comprehension := {x | some x in [1]}
default with_default := 1
with_default := 2
from_pure_function := double(2)
double(x) := x * 2
from_input := input.x
with_body := 1 if input.x
with_else := 1 if input.x
else := 2
through_a_rule := with_body + 1
through_an_else := 1 if false
else := with_body
through_a_function := plus_input(1)
plus_input(x) := x + input.y
with_with := x if x := table with input as {}
now := time.now_ns()
chain_valid := crypto.x509.parse_and_verify_certificates("MIIB")
traced := 1 if trace("t")
parts[k] := 1 if some k in ["a"]
set contains "a"
a.b := 1
`, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(map[string]*ast.Module{"p.rego": m}); c.Failed() {
		t.Fatal(c.Errors)
	}
	for _, p := range constantRules(c) {
		got = append(got, p.String())
	}
	want := []string{"data.p.from_call", "data.p.from_comprehension", "data.p.from_pure_function", "data.p.from_ref",
		"data.p.n", "data.p.table", "data.p.with_default", "data.p.word"}
	if !slices.Equal(got, want) {
		t.Errorf("constant rules %v, want %v", got, want)
	}
}

// TestConstantsDecideAsOPAAlone requires the same decision documents with the constants
// seeded and without, on the cast corpus and the odd inputs.
func TestConstantsDecideAsOPAAlone(t *testing.T) {
	seeded, plain := newEngine(t), newEngine(t)
	if seeded.constants == nil {
		t.Fatal("the default policy's tables were not found constant")
	}
	plain.constants = nil
	for i, in := range castCorpus(t) {
		sameDecision(t, plain, seeded, fmt.Sprint("cast ", i), in)
	}
	for i, raw := range oddInputs() {
		sameJSONDecision(t, plain, seeded, fmt.Sprint("odd ", i), raw)
	}
}

// TestConstantsGiveWayToWith: a rule evaluated under `with` reads the value `with` gives a
// constant, not the seeded one (seededCache leaves the constants out under a `with`, and
// OPA's own handling of `with` on a rule does too).
func TestConstantsGiveWayToWith(t *testing.T) {
	e := newEngine(t, WithFS(fstest.MapFS{"authz.rego": {Data: []byte(`package portcullis.authz
limit := 5
read := limit
decision := {"allow": true, "reasons": [sprintf("%d %d", [read, x])]} if x := read with limit as 7
`)}}))
	if e.constants == nil {
		t.Fatal("limit was not found constant")
	}
	res, err := e.Decide(t.Context(), Input{})
	if err != nil || !bytes.Equal(res.Raw, []byte(`{"allow":true,"reasons":["5 7"]}`)) {
		t.Errorf("Decide = %s, %v; want limit 5 outside with, 7 under it", res.Raw, err)
	}
}

// TestAnUndefinedConstantStaysUndefined: a constant rule whose body fails is seeded as
// undefined, so `not` of it holds and a reference to it is undefined, as OPA alone gives.
func TestAnUndefinedConstantStaysUndefined(t *testing.T) {
	e := newEngine(t, WithFS(fstest.MapFS{"authz.rego": {Data: []byte(`package portcullis.authz
never := 1 if count([]) > 0
doubled := never * 2
decision := {"allow": true, "reasons": ["never is undefined"]} if {
	not never
	not doubled
}
`)}}))
	if e.constants == nil {
		t.Fatal("never was not found constant")
	}
	if _, undefined := e.constants.cache.Get(ast.MustParseRef("data.portcullis.authz.never")); !undefined {
		t.Error("never was not seeded as undefined")
	}
	res, err := e.Decide(t.Context(), Input{})
	if err != nil || !bytes.Equal(res.Raw, []byte(`{"allow":true,"reasons":["never is undefined"]}`)) {
		t.Errorf("Decide = %s, %v; want never and doubled undefined", res.Raw, err)
	}
}
