package policy

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"
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
		{"IPv4-mapped IPv6 keeps its IPv4 /24", "::ffff:1.2.3.4", "1.2.3.0/24"},
		{"IPv4-mapped IPv6 in hexadecimal keeps its IPv4 /24", "::ffff:102:304", "1.2.3.0/24"},
		{"IPv4-compatible IPv6 keeps its /48", "::1.2.3.4", "::/48"},
		{"anything else is erased", "not-an-address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"subject":{"id":"alice@example.com","name":"Alice","email":"alice@example.com","groups":["ops"],"amr":["mfa"]},` +
				`"host":{"name":"db-1"},"request":{"action":"connect"},"context":{"guest_addr":"` + tt.addr + `"}}`
			ev, err := e.Mask(t.Context(), Event{DecisionID: "dec-1", Path: "portcullis/authz/decision", Input: json.RawMessage(in), Result: json.RawMessage(`{"allow":true}`)})
			done := slices.Concat(ev.Erased, ev.Masked)
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

// FuzzDefaultMaskGuestAddr masks the Guest's address of a record with the default mask.rego:
// whatever the address, Mask succeeds (a failing mask refuses the request) and keeps what
// net/netip says it is: an IPv4 address, or an IPv4-mapped IPv6 one, as its IPv4 /24; another
// IPv6 address as its /48; anything else erased.
func FuzzDefaultMaskGuestAddr(f *testing.F) {
	for _, addr := range []string{
		"203.0.113.7", "0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4", "::FFFF:203.0.113.7", "::ffff:102:304",
		"0:0:0:0:0:ffff:c000:207", "::ffff:0:0", "::ffff:0:1:2", "::1.2.3.4", "::", "::1", "2001:db8:1:2::7",
		"64:ff9b::1.2.3.4", "fe80::1%eth0", "1.2.3.4/24", "01.2.3.4", "1.2.3", "::ffff:1.2.3", "1.2.3.4:80", "somewhere", "",
	} {
		f.Add(addr)
	}
	e := newEngine(f)
	f.Fuzz(func(t *testing.T, addr string) {
		if !utf8.ValidString(addr) {
			return // the CM's input is encoding/json's, which would write another string
		}
		in, err := json.Marshal(Input{Context: Context{GuestAddr: addr}})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := e.Mask(t.Context(), Event{DecisionID: "dec-1", Path: DecisionPath, Input: in, Result: json.RawMessage(`{"allow":false}`)})
		if err != nil {
			t.Fatalf("Mask(guest_addr %q): %v", addr, err)
		}
		var got Input
		if err := json.Unmarshal(ev.Input, &got); err != nil {
			t.Fatal(err)
		}
		if want := guestNetwork(addr); got.Context.GuestAddr != want {
			t.Fatalf("guest_addr %q masked to %q, want %q", addr, got.Context.GuestAddr, want)
		}
	})
}

// guestNetwork is what the default mask keeps of a Guest's address, by net/netip: "" when it
// erases it.
func guestNetwork(addr string) string {
	a, err := netip.ParseAddr(addr)
	switch {
	case err != nil || a.Zone() != "":
		return ""
	case a.Is4() || a.Is4In6():
		return netip.PrefixFrom(a.Unmap(), 24).Masked().String()
	default:
		return netip.PrefixFrom(a, 48).Masked().String()
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
	ev, err := e.Mask(t.Context(), Event{
		Input:  json.RawMessage(`{"secret":"s","keep":1,"list":[1,2,3]}`),
		Result: json.RawMessage(`{"allow":false,"internal":"x"}`),
		Erased: []string{"/input/stale"}, // Mask says what it did, not what the caller claimed
	})
	if err != nil {
		t.Fatalf("Mask: %v", err)
	}
	if string(ev.Input) != `{"a/b":{"new":"x"},"keep":1,"list":[1,null,3]}` || string(ev.Result) != `{"allow":false}` {
		t.Errorf("masked input %s result %s", ev.Input, ev.Result)
	}
	slices.Sort(ev.Erased)
	if want := []string{"/input/list/1", "/input/secret", "/result/internal"}; !slices.Equal(ev.Erased, want) {
		t.Errorf("erased = %v, want %v", ev.Erased, want)
	}
	if want := []string{"/input/a~1b/new"}; !slices.Equal(ev.Masked, want) {
		t.Errorf("masked = %v, want %v", ev.Masked, want)
	}
}

// TestMaskSeesTheEventAsOPAGivesIt: the mask rule's input is the whole decision-log event
// under OPA's field names, without erased and masked.
func TestMaskSeesTheEventAsOPAGivesIt(t *testing.T) {
	mask := `package system.log

mask contains {"op": "upsert", "path": "/input/seen", "value": {
	"decision_id": input.decision_id, "path": input.path, "timestamp": input.timestamp,
	"cm": input.labels.cm, "revision": input.bundles.portcullis.revision,
	"requested_by": input.requested_by, "req_id": input.req_id,
	"eval_ns": input.metrics.timer_rego_query_eval_ns, "allow": input.result.allow,
	"has_erased": object.get(input, "erased", false) != false,
}}
`
	e := newEngine(t, WithFS(withMask(mask)))
	ev, err := e.Mask(t.Context(), Event{
		DecisionID: "dec-9", Path: "portcullis/authz/decision", Input: json.RawMessage(`{}`), Result: json.RawMessage(`{"allow":true}`),
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Labels: map[string]string{"cm": "cm-a"},
		Bundles: map[string]BundleInfo{"portcullis": {Revision: "rev-1"}}, RequestedBy: "192.0.2.1:4000", ReqID: 42,
		Metrics: map[string]int64{"timer_rego_query_eval_ns": 7}, Erased: []string{"/input/x"},
	})
	if err != nil {
		t.Fatalf("Mask: %v", err)
	}
	want := `{"seen":{"allow":true,"cm":"cm-a","decision_id":"dec-9","eval_ns":7,"has_erased":false,` +
		`"path":"portcullis/authz/decision","req_id":42,"requested_by":"192.0.2.1:4000","revision":"rev-1",` +
		`"timestamp":"2026-01-02T03:04:05.000000006Z"}}`
	if string(ev.Input) != want {
		t.Errorf("the mask saw %s\nwant %s", ev.Input, want)
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
			if _, err := e.Mask(t.Context(), Event{Input: json.RawMessage(`{"x":1}`)}); !errors.Is(err, ErrMask) {
				t.Errorf("Mask error = %v, want ErrMask", err)
			}
		})
	}
}

func TestNoMaskRuleKeepsTheEvent(t *testing.T) {
	e := newEngine(t, WithFS(policyFS(`decision := {"allow": false}`)))
	ev := Event{Input: json.RawMessage(`{"x":1}`)}
	got, err := e.Mask(t.Context(), ev)
	if err != nil || got.Erased != nil || got.Masked != nil || string(got.Input) != `{"x":1}` || e.Masks() {
		t.Errorf("Mask = %+v, %v; want the event unchanged", got, err)
	}
}

// withMask is a minimal deciding policy plus a mask module.
func withMask(mask string) fstest.MapFS {
	fsys := policyFS(`decision := {"allow": false}`)
	fsys["mask.rego"] = &fstest.MapFile{Data: []byte(mask)}
	return fsys
}
