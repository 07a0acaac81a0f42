package policy

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

func TestInputJSONShape(t *testing.T) {
	at := time.Date(2025, time.June, 3, 8, 0, 0, 0, time.UTC)
	in := connect(alice(), db1(), at)
	in.Subject.AuthTime = at.Add(-time.Minute)
	in.Request.Channels = []string{ChannelShell}
	in.Request.Encryption = EncryptionVeryHigh
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"subject":{"id":"alice@example.com","name":"Alice","email":"alice@example.com","idp":"https://127.0.0.1:8443/idp","groups":["ops"],"amr":["pwd","mfa"],"auth_time":"2025-06-03T07:59:00Z"},` +
		`"host":{"id":"h-db-1","name":"db-1","tenant":"acme","os":"linux","tags":{"env":"prod","team":"data"},"online":true},` +
		`"request":{"action":"connect","channels":["shell"],"encryption":"very_high"},` +
		`"context":{"time":"2025-06-03T08:00:00Z","guest_addr":"203.0.113.7","region":"eu-north","relays":[` +
		`{"id":"cs-eu-1","region":"eu-north","owner":"vendor","private":false},` +
		`{"id":"cs-us-1","region":"us-east","owner":"vendor","private":false},` +
		`{"id":"cs-globex-1","region":"eu-west","owner":"globex","private":true}]}}`
	if string(raw) != want {
		t.Errorf("Input JSON\n got %s\nwant %s", raw, want)
	}
	var back Input
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("round trip: %+v, %v; want %+v", back, err, in)
	}
}

func TestInputJSONOmitsZeroTimes(t *testing.T) {
	raw, err := json.Marshal(ask(mallory(), ActionQueryDecisions, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"subject":{"id":"mallory@example.com","name":"Mallory","groups":null,"amr":["pwd"]},"host":{"online":false},"request":{"action":"query_decisions"},"context":{}}`
	if string(raw) != want {
		t.Errorf("Input JSON\n got %s\nwant %s", raw, want)
	}
}

// TestInputMatchesTheSchema checks the Go Input against rego/input.schema.json with OPA's own
// JSON Schema validator, so that the schema the policy is type-checked with stays true.
func TestInputMatchesTheSchema(t *testing.T) {
	raw, err := fs.ReadFile(defaultpolicy.Files(), inputSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	query, err := rego.New(rego.Query("result := json.match_schema(input.document, input.schema)")).PrepareForEval(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	matches := func(doc any) (bool, any) {
		t.Helper()
		rs, err := query.Eval(t.Context(), rego.EvalInput(map[string]any{"document": doc, "schema": schema}))
		if err != nil || len(rs) != 1 {
			t.Fatalf("match_schema: %v, %v", rs, err)
		}
		result := rs[0].Bindings["result"].([]any)
		return result[0].(bool), result[1]
	}
	for _, s := range stories(t) {
		if ok, errs := matches(asDocument(t, s.in)); !ok {
			t.Errorf("%s: input does not match the schema: %v", s.name, errs)
		}
	}
	if ok, _ := matches(asDocument(t, ask(mallory(), ActionQueryDecisions, time.Time{}))); !ok {
		t.Errorf("an input with zero times and no groups does not match the schema")
	}
	bad := asDocument(t, connect(alice(), db1(), copenhagen(t, 10, 0)))
	bad["subject"].(map[string]any)["grups"] = []any{"ops"}
	if ok, _ := matches(bad); ok {
		t.Errorf("the schema accepts an unknown subject field")
	}
}

func asDocument(t *testing.T, in Input) map[string]any {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
