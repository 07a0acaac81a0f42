package policy

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"testing/fstest"
)

func TestDefaultPolicyMasksPersonalData(t *testing.T) {
	e := newEngine(t)
	if !e.Masks() {
		t.Fatal("default policy defines no data.system.log.mask")
	}
	tests := []struct {
		name, addr, wantAddr string
	}{
		{"IPv4 keeps its /24", "203.0.113.7", "203.0.113.0/24"},
		{"IPv6 keeps its /48", "2001:db8:1:2::7", "2001:db8:1::/48"},
		{"anything else is erased", "not-an-address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"subject":{"id":"alice@example.com","name":"Alice","email":"alice@example.com","groups":["ops"],"amr":["mfa"]},` +
				`"host":{"name":"db-1"},"request":{"action":"connect"},"context":{"guest_addr":"` + tt.addr + `"}}`
			ev, done, err := e.Mask(t.Context(), Event{DecisionID: "dec-1", Path: "portcullis/authz/decision", Input: json.RawMessage(in), Result: json.RawMessage(`{"allow":true}`)})
			if err != nil {
				t.Fatalf("Mask: %v", err)
			}
			var got Input
			if err := json.Unmarshal(ev.Input, &got); err != nil {
				t.Fatal(err)
			}
			if got.Subject.Email != "" || got.Subject.Name != "" || got.Subject.ID != "alice@example.com" {
				t.Errorf("subject after mask = %+v, want only the id kept", got.Subject)
			}
			if got.Context.GuestAddr != tt.wantAddr {
				t.Errorf("guest_addr = %q, want %q", got.Context.GuestAddr, tt.wantAddr)
			}
			if !slices.Contains(done, "/input/subject/email") || !slices.Contains(done, "/input/context/guest_addr") {
				t.Errorf("done = %v, want email and guest_addr", done)
			}
			if string(ev.Result) != `{"allow":true}` {
				t.Errorf("result changed: %s", ev.Result)
			}
		})
	}
}

func TestMaskOperations(t *testing.T) {
	mask := `package system.log

mask contains "/input/secret"

mask contains "/input/list/1"

mask contains "/input/absent/deep"

mask contains "/result/internal"

mask contains {"op": "upsert", "path": "/input/a~1b/new", "value": "x"}
`
	e := newEngine(t, WithFS(withMask(mask)))
	ev, done, err := e.Mask(t.Context(), Event{
		Input:  json.RawMessage(`{"secret":"s","keep":1,"list":[1,2,3]}`),
		Result: json.RawMessage(`{"allow":false,"internal":"x"}`),
	})
	if err != nil {
		t.Fatalf("Mask: %v", err)
	}
	if string(ev.Input) != `{"a/b":{"new":"x"},"keep":1,"list":[1,null,3]}` || string(ev.Result) != `{"allow":false}` {
		t.Errorf("masked input %s result %s", ev.Input, ev.Result)
	}
	want := []string{"/input/a~1b/new", "/input/list/1", "/input/secret", "/result/internal"}
	slices.Sort(done)
	if !slices.Equal(done, want) {
		t.Errorf("done = %v, want %v", done, want)
	}
}

func TestMaskRefusesWhatIsNotAMask(t *testing.T) {
	for name, mask := range map[string]string{
		"pointer outside the record": "package system.log\n\nmask contains \"/labels/cm\"\n",
		"not a pointer":              "package system.log\n\nmask contains \"input/x\"\n",
		"unknown op":                 "package system.log\n\nmask contains {\"op\": \"add\", \"path\": \"/input/x\"}\n",
		"not a set":                  "package system.log\n\nmask := 7\n",
		"number entry":               "package system.log\n\nmask contains 7\n",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, WithFS(withMask(mask)))
			if _, _, err := e.Mask(t.Context(), Event{Input: json.RawMessage(`{"x":1}`)}); !errors.Is(err, ErrMask) {
				t.Errorf("Mask error = %v, want ErrMask", err)
			}
		})
	}
}

func TestNoMaskRuleKeepsTheEvent(t *testing.T) {
	e := newEngine(t, WithFS(policyFS(`decision := {"allow": false}`)))
	ev := Event{Input: json.RawMessage(`{"x":1}`)}
	got, done, err := e.Mask(t.Context(), ev)
	if err != nil || done != nil || string(got.Input) != `{"x":1}` || e.Masks() {
		t.Errorf("Mask = %+v, %v, %v; want the event unchanged", got, done, err)
	}
}

// withMask is a minimal deciding policy plus a mask module.
func withMask(mask string) fstest.MapFS {
	fsys := policyFS(`decision := {"allow": false}`)
	fsys["mask.rego"] = &fstest.MapFile{Data: []byte(mask)}
	return fsys
}
