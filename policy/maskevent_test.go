package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestTheMaskRuleSeesEachEventAsItsJSON checks that the event Mask hands the mask rule is
// exactly the AST value of the event's JSON, whichever of its members are set, with the values
// of a real decision carried (WithValuesOf) or not.
func TestTheMaskRuleSeesEachEventAsItsJSON(t *testing.T) {
	e := newEngine(t)
	res, err := e.Decide(t.Context(), Input{
		Subject: Subject{ID: "alice@example.com", Email: "alice@example.com", Groups: []string{"ops"}, AMR: []string{"mfa"}},
		Host:    Host{Name: "db-1", Tags: map[string]string{"env": "prod"}},
		Request: Request{Action: "connect", Channels: []string{"shell"}},
		Context: Context{Time: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), GuestAddr: "203.0.113.7"},
	})
	if err != nil || !res.Decision.Allow {
		t.Fatalf("the sample decision: %+v, %v", res.Decision, err)
	}
	full := Event{
		DecisionID: "dec-1", Path: "portcullis/authz/decision", Input: res.Input, Result: res.Raw,
		Timestamp: time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.FixedZone("x", 3600)),
		Labels:    map[string]string{"cm": "cm-1", "outcome": "granted"}, Bundles: map[string]BundleInfo{BundleName: {Revision: "r1"}},
		RequestedBy: "127.0.0.1:4242", ReqID: 1<<63 + 5, Metrics: map[string]int64{"timer_rego_query_eval_ns": -7},
		Erased: []string{"/left/out"}, Masked: []string{"/left/out"},
	}
	cases := []struct {
		name string
		ev   Event
	}{
		{"every member, values carried", full.WithValuesOf(res)},
		{"every member, parsed", full},
		{"the zero event", Event{}},
		{"an input of spaces and a result", Event{Input: json.RawMessage(" {\n\"a\" : [1, 2.50, null]} "), Result: json.RawMessage(`{"allow":false}`)}},
		{"invalid UTF-8 in a label goes through JSON", Event{Input: json.RawMessage(`{}`), Labels: map[string]string{"cm": "a\xffb"}}},
		{"values of another result are not carried", Event{Input: json.RawMessage(`{"other":1}`), Result: json.RawMessage(`{"allow":false}`)}.WithValuesOf(res)},
	}
	for _, tc := range cases {
		got, err := tc.ev.value()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		plain := tc.ev
		plain.Erased, plain.Masked = nil, nil
		raw, err := json.Marshal(plain)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseInput(raw)
		if err != nil {
			t.Fatal(err)
		}
		if ast.Compare(got, want) != 0 {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, want)
		}
	}
	if !reflect.DeepEqual(full.WithValuesOf(res).inputValue, res.inputValue) || full.WithValuesOf(Result{}).inputValue != nil {
		t.Error("WithValuesOf carries the wrong input value")
	}
}

// TestMaskGivesTheSameRecordWithCarriedValues masks a real decision's record with and without
// the values OPA held.
func TestMaskGivesTheSameRecordWithCarriedValues(t *testing.T) {
	e := newEngine(t)
	res, err := e.Decide(t.Context(), Input{
		Subject: Subject{ID: "bob@example.com", Name: "Bob", Email: "bob@example.com", Groups: []string{"contractors"}},
		Host:    Host{Name: "web-1", Tags: map[string]string{"env": "staging"}},
		Request: Request{Action: "connect"},
		Context: Context{Time: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), GuestAddr: "2001:db8:1:2::7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{DecisionID: "dec-2", Path: "portcullis/authz/decision", Input: res.Input, Result: res.Raw}
	plain, err := e.Mask(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	carried, err := e.Mask(t.Context(), ev.WithValuesOf(res))
	if err != nil {
		t.Fatal(err)
	}
	carried.inputValue, carried.resultValue = nil, nil
	if !reflect.DeepEqual(plain, carried) {
		t.Errorf("masked records differ:\n plain   %+v\n carried %+v", plain, carried)
	}
	if len(plain.Erased) == 0 || len(plain.Masked) == 0 {
		t.Errorf("the default mask erased %v and masked %v; want the e-mail, name and address handled", plain.Erased, plain.Masked)
	}
}

// TestMaskChangesCopies: the mask erases from copies, so that the input OPA decided on keeps
// what the record loses, and numbers keep the text they were written with.
func TestMaskChangesCopies(t *testing.T) {
	e := newEngine(t)
	res := decidePersonal(t, e)
	before := res.inputValue.String()
	masked, err := e.Mask(t.Context(), Event{DecisionID: "dec-3", Path: DecisionPath, Input: res.Input, Result: res.Raw}.WithValuesOf(res))
	if err != nil {
		t.Fatal(err)
	}
	if after := res.inputValue.String(); after != before {
		t.Errorf("masking changed the decided input:\n before %s\n after  %s", before, after)
	}
	for _, gone := range []string{`"email":`, `"name":"Alice"`, "192.0.2.7"} {
		if bytes.Contains(masked.Input, []byte(gone)) {
			t.Errorf("masked input still holds %s: %s", gone, masked.Input)
		}
	}
	if !bytes.Contains(masked.Input, []byte(`"guest_addr":"192.0.2.0/24"`)) {
		t.Errorf("masked input lacks the Guest's network: %s", masked.Input)
	}

	mask := "package system.log\n\nmask contains \"/input/secret\"\n"
	ev, err := newEngine(t, WithFS(withMask(mask))).Mask(t.Context(), Event{
		Input: json.RawMessage(`{"secret":"s","big":12345678901234567891,"ratio":1.50,"n":[1e3,-0]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"big":12345678901234567891,"n":[1e3,-0],"ratio":1.50}`; string(ev.Input) != want {
		t.Errorf("masked input %s, want %s", ev.Input, want)
	}
}

// decidePersonal decides alice's connect to db-1 with the personal data the default mask
// handles: her e-mail address and name, and the Guest's address.
func decidePersonal(tb testing.TB, e *Engine) Result {
	tb.Helper()
	in := connect(alice(), db1(), copenhagen(tb, 10, 0))
	in.Subject.Email, in.Subject.Name, in.Context.GuestAddr = "alice@example.com", "Alice", "192.0.2.7"
	res, err := e.Decide(tb.Context(), in)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}
