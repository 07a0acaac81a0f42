package policy

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// TestInputASTEqualsItsJSON proves that the AST Decide builds directly is the document the
// policy would see through the JSON encoding (which the decision log stores and replays).
func TestInputASTEqualsItsJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		name string
		in   Input
	}{
		{"zero input", Input{}},
		{"every field", Input{
			Subject: Subject{ID: "alice@example.com", Name: "Alice", Email: "alice@example.com", IdP: "https://idp", Groups: []string{"ops", "dba"}, AMR: []string{"pwd", "mfa"}, AuthTime: at, EmailVerified: true, ACR: "phr"},
			Host:    Host{ID: "h_1", Name: "db-1", Tenant: "acme", OS: "linux", Tags: map[string]string{"env": "prod", "team": "data"}, Online: true, LastSeen: at},
			Request: Request{Action: ActionConnect, Channels: []string{"exec", "forward"}, Encryption: access.LevelVeryHigh, Operation: "hosts.list"},
			Context: Context{Time: at, GuestAddr: "10.0.0.1", Region: "eu-north", Relays: []RelayCandidate{{ID: "cs-1", Region: "eu", Owner: "vendor"}, {ID: "cs-2", Owner: "acme", Private: true}}},
		}},
		{"empty, not nil, lists", Input{Subject: Subject{Groups: []string{}, AMR: []string{}}, Request: Request{Channels: []string{}}, Host: Host{Tags: map[string]string{}}, Context: Context{Relays: []RelayCandidate{}}}},
		{"unicode and quotes", Input{Subject: Subject{ID: "zoë \"q\" \\ ✓", Groups: []string{"a\nb"}}}},
	}
	// A field added to Input must be set in "every field" (and so be built by astValue).
	assertNoZeroField(t, "Input", reflect.ValueOf(cases[1].in))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := parseInput(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.in.astValue(); got.Compare(want) != 0 {
				t.Fatalf("AST differs from the JSON encoding:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// assertNoZeroField fails for every struct field under v (through the first element of
// slices) left at its zero value, except the booleans, whose false is a value like any other.
func assertNoZeroField(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.IsZero() {
				t.Errorf("%s is zero in the every-field input", path)
			}
			return
		}
		for i := range v.NumField() {
			assertNoZeroField(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty in the every-field input", path)
			return
		}
		assertNoZeroField(t, path, v.Index(0))
	case reflect.Bool:
	default:
		if v.IsZero() {
			t.Errorf("%s is zero in the every-field input", path)
		}
	}
}
