package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/portcullis/portcullis/internal/rolegen"
	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// originalPolicy is the default policy before its rules were rewritten for speed; it is kept
// only to prove that the rewrite decides exactly as it did.
const originalPolicy = "testdata/authz-v0/authz.rego"

// TestRewrittenPolicyDecidesAsTheOriginal runs a corpus of requests through the original
// default policy and the current one and requires byte-identical decision documents (allow,
// reasons, obligations): with the default tables (the SCENARIOS.md cast in every combination
// of host, action, channels, encryption, time and relays, and malformed JSON inputs) and with
// a generated table of 100 more roles over generated hosts.
func TestRewrittenPolicyDecidesAsTheOriginal(t *testing.T) {
	old, err := os.ReadFile(originalPolicy)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := fs2bytes("authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("default tables", func(t *testing.T) {
		before, after := engineOf(t, old), engineOf(t, cur)
		for i, in := range castCorpus(t) {
			sameDecision(t, before, after, fmt.Sprint("cast ", i), in)
		}
		for i, raw := range oddInputs() {
			sameJSONDecision(t, before, after, fmt.Sprint("odd ", i), raw)
		}
	})
	t.Run("100 generated roles", func(t *testing.T) {
		genOld, err := rolegen.Policy(old, 100)
		if err != nil {
			t.Fatal(err)
		}
		genCur, err := rolegen.Policy(cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		before, after := engineOf(t, genOld), engineOf(t, genCur)
		hosts := rolegen.Hosts(1000, 1)
		allowed := 0
		for i, q := range rolegen.Requests(600, 100, hosts, 1) {
			in := generatedInput(q)
			sameDecision(t, before, after, fmt.Sprint("generated ", i), in)
			if res, _ := after.Decide(t.Context(), in); res.Decision.Allow {
				allowed++
			}
		}
		if allowed < 60 || allowed > 540 {
			t.Errorf("%d of 600 generated requests allowed; want a mix of grants and refusals", allowed)
		}
	})
}

func fs2bytes(name string) ([]byte, error) {
	f, err := defaultpolicy.Files().Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), err
}

// engineOf compiles authz (with the default API policy) into an Engine.
func engineOf(t *testing.T, authz []byte) *Engine {
	t.Helper()
	return newEngine(t, WithFS(fstest.MapFS{"authz.rego": {Data: authz}}))
}

func sameDecision(t *testing.T, before, after *Engine, name string, in Input) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	b, errB := before.Decide(t.Context(), in)
	a, errA := after.Decide(t.Context(), in)
	if !bytes.Equal(b.Raw, a.Raw) || (errB == nil) != (errA == nil) || len(b.Raw) == 0 {
		t.Errorf("%s: input %s\nbefore %s (%v)\nafter  %s (%v)", name, raw, b.Raw, errB, a.Raw, errA)
	}
}

func sameJSONDecision(t *testing.T, before, after *Engine, name, input string) {
	t.Helper()
	b, errB := before.DecideJSON(t.Context(), json.RawMessage(input))
	a, errA := after.DecideJSON(t.Context(), json.RawMessage(input))
	if !bytes.Equal(b.Raw, a.Raw) || (errB == nil) != (errA == nil) || len(b.Raw) == 0 {
		t.Errorf("%s: input %s\nbefore %s (%v)\nafter  %s (%v)", name, input, b.Raw, errB, a.Raw, errA)
	}
}

// castCorpus is every subject of the cast asking every host of it for every action, with
// varied channels, encryption, times and relays.
func castCorpus(t *testing.T) []Input {
	dave := Subject{ID: "dave@example.com", Groups: []string{"portcullis-admins"}, AMR: []string{"pwd", "mfa"}}
	bobAndOps, carolAndOps := bob(), carol()
	bobAndOps.Groups = []string{"contractors", "ops"}
	carolAndOps.Groups = []string{"auditors", "ops"}
	intern, nobody, noAMR := mallory(), Subject{Groups: []string{"ops"}}, alice()
	intern.Groups = []string{"interns", "interns"}
	noAMR.AMR = nil
	subjects := []Subject{alice(), aliceWithoutMFA(), bob(), carol(), dave, mallory(), bobAndOps, carolAndOps, intern, nobody, noAMR}
	confirm := web1()
	confirm.Tags = map[string]string{"env": "staging", "confirm": "required"}
	lab, unnamed := Host{Name: "lab-3", Tenant: "acme", Tags: map[string]string{"env": "lab"}}, db1()
	unnamed.Name = ""
	hosts := []Host{web1(), db1(), kiosk7(), confirm, lab, unnamed, {Name: "bare"}}
	requests := []Request{
		{Action: ActionConnect}, {Action: ActionConnect, Channels: []string{"shell"}},
		{Action: ActionConnect, Channels: []string{"exec", "forward"}}, {Action: ActionConnect, Channels: []string{"x11", "sftp"}},
		{Action: ActionConnect, Encryption: "medium"}, {Action: ActionConnect, Encryption: "very_high"}, {Action: ActionConnect, Encryption: "rot13"},
		{Action: ActionQueryDecisions}, {Action: ActionAdminister}, {Action: "reboot"}, {},
	}
	utc := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	times := []time.Time{copenhagen(t, 10, 0), copenhagen(t, 22, 0), copenhagen(t, 17, 30), copenhagen(t, 8, 0), copenhagen(t, 18, 0),
		utc("2025-06-07T08:00:00Z"), utc("2025-01-07T07:30:00Z"), {}}
	relays := [][]RelayCandidate{castRelays(), castRelays()[:2], nil}
	var corpus []Input
	n := 0
	for _, s := range subjects {
		for _, h := range hosts {
			for _, r := range requests {
				// Every combination of subject, host and request; times and relays rotate.
				n++
				corpus = append(corpus, Input{Subject: s, Host: h, Request: r,
					Context: Context{Time: times[n%len(times)], Relays: relays[n%len(relays)], GuestAddr: "203.0.113.7"}})
			}
		}
	}
	for _, at := range times { // every time for the windowed and the unwindowed roles
		for _, s := range []Subject{bob(), bobAndOps, alice()} {
			corpus = append(corpus, connect(s, web1(), at))
		}
	}
	return corpus
}

// oddInputs are JSON inputs the CM would never build but a replayed or hand-written one may
// hold: missing members, wrong types.
func oddInputs() []string {
	return []string{
		`{}`,
		`{"subject": {"id": "alice@example.com", "groups": "ops", "amr": "mfa"}, "request": {"action": "connect"}, "host": {"tags": {"env": "prod"}}}`,
		`{"subject": {"id": "alice@example.com", "groups": {"a": "ops"}, "amr": ["mfa"]}, "request": {"action": "connect"}, "host": {"name": 7, "tags": {"env": "prod"}}}`,
		`{"subject": {"id": "", "groups": ["ops", "ops"], "amr": ["mfa"]}, "request": {"action": "connect", "channels": "shell"}, "host": {"tags": ["env=prod"]}}`,
		`{"subject": {"id": "bob@example.com", "groups": ["contractors"]}, "request": {"action": "connect"}, "host": {"name": "web-1", "tags": {"env": "staging"}}, "context": {"time": 12}}`,
		`{"subject": {"id": "alice@example.com", "groups": ["ops"], "amr": ["mfa"]}, "request": {"action": "connect", "encryption": 3}, "host": {"tenant": "globex", "tags": {"env": "prod"}}, "context": {"relays": "none"}}`,
		`{"subject": {"id": "alice@example.com", "groups": ["ops", 5, null]}, "request": {"action": null}, "host": null}`,
		`{"subject": {"id": "alice@example.com", "groups": ["ops"], "amr": ["mfa"]}, "request": {"action": "connect", "channels": [1, "shell"]}, "host": {"name": null, "tenant": "globex", "tags": {"env": "prod", "confirm": "required"}}, "context": {"relays": [{"private": true, "owner": "globex"}]}}`,
	}
}

// generatedInput is the input of a generated request, as the CM would build it.
func generatedInput(q rolegen.Request) Input {
	at, _ := time.Parse(time.RFC3339, q.Time)
	amr := []string{"pwd"}
	if q.MFA {
		amr = append(amr, "mfa")
	}
	return Input{
		Subject: Subject{ID: "user@example.com", Groups: q.Groups, AMR: amr},
		Host:    Host{Name: q.Host.Name, Tenant: q.Host.Tenant, Tags: q.Host.Tags, Online: true},
		Request: Request{Action: ActionConnect, Channels: q.Channels, Encryption: q.Encryption},
		Context: Context{Time: at, Relays: castRelays()},
	}
}
