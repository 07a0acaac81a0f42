package policy

import (
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

// recordAll decides every input with e and returns the decision-log records, as the CM keeps them.
func recordAll(t *testing.T, e *Engine, inputs []Input) []Recorded {
	t.Helper()
	var recs []Recorded
	for i, in := range inputs {
		res, err := e.Decide(t.Context(), in)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		recs = append(recs, Recorded{
			ID: fmt.Sprintf("dec-%04d", i), Time: in.Context.Time, Subject: in.Subject.ID,
			Host: in.Host.Name, Path: DecisionPath, Allow: res.Decision.Allow, Result: res.Raw, Input: res.Input,
		})
	}
	return recs
}

func seq(recs []Recorded) iter.Seq2[Recorded, error] {
	return func(yield func(Recorded, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// TestImpactOfNarrowingTheContractorsWindow is story 9: moving the contractors' window from
// 08:00–18:00 to 09:00–17:00 flips exactly bob's weekday decisions in 08:00–09:00 and 17:00–18:00.
func TestImpactOfNarrowingTheContractorsWindow(t *testing.T) {
	zone, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	var inputs []Input
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, zone) // a Monday
	for at := start; at.Before(start.Add(7 * 24 * time.Hour)); at = at.Add(20 * time.Minute) {
		inputs = append(inputs, connect(bob(), web1(), at), connect(alice(), db1(), at), connect(mallory(), web1(), at))
	}
	live := newEngine(t)
	recs := recordAll(t, live, inputs)
	recs = append(recs, Recorded{ID: "cm-own", Path: "portcullis/cm", Input: recs[0].Input})

	dir := copyDefaultPolicy(t)
	authz := filepath.Join(dir, "authz.rego")
	editFile(t, authz, `"start": "08:00"`, `"start": "09:00"`)
	editFile(t, authz, `"end": "18:00"`, `"end": "17:00"`)
	if err := os.Remove(filepath.Join(dir, "authz_test.rego")); err != nil { // its window tests name 08:00–18:00
		t.Fatal(err)
	}
	candidate := newEngine(t, WithDir(dir))

	rep, err := Impact(t.Context(), candidate, seq(recs))
	if err != nil {
		t.Fatalf("Impact: %v", err)
	}
	want := map[string]bool{}
	for _, r := range recs {
		var in Input
		_ = json.Unmarshal(r.Input, &in)
		local := in.Context.Time.In(zone)
		weekday := local.Weekday() != time.Saturday && local.Weekday() != time.Sunday
		if r.Path == DecisionPath && r.Subject == "bob@example.com" && weekday && (local.Hour() == 8 || local.Hour() == 17) {
			want[r.ID] = true
		}
	}
	if len(want) != 5*2*3 {
		t.Fatalf("test data: %d decisions of bob in the edge hours, want 30", len(want))
	}
	// Sessions a narrower window still allows may end earlier: those change obligations only.
	got := map[string]bool{}
	for _, c := range rep.Changes {
		if c.Recorded.Subject != "bob@example.com" {
			t.Errorf("change %s of %s: only bob's decisions may change", c.Recorded.ID, c.Recorded.Subject)
		}
		switch c.Kind {
		case ChangeAllowToDeny:
			got[c.Recorded.ID] = true
		case ChangeObligations:
			if c.After.Obligations.MaxDurationSeconds >= c.Before.Obligations.MaxDurationSeconds {
				t.Errorf("change %s: obligations %+v → %+v, want a shorter session", c.Recorded.ID, c.Before.Obligations, c.After.Obligations)
			}
		default:
			t.Errorf("change %s: %s, want allow→deny or shorter obligations", c.Recorded.ID, c.Kind)
		}
	}
	for id := range want {
		if !got[id] {
			t.Errorf("decision %s should flip but was not listed", id)
		}
	}
	if len(got) != len(want) || rep.Counts[ChangeAllowToDeny] != len(want) || rep.Counts[ChangeObligations] == 0 {
		t.Errorf("%d flips %v, want exactly %d allow→deny and some shorter sessions", len(got), rep.Counts, len(want))
	}
	if rep.Replayed != len(inputs) || rep.Skipped != 1 {
		t.Errorf("replayed %d skipped %d, want %d and 1", rep.Replayed, rep.Skipped, len(inputs))
	}
}

func TestImpactFindsEveryKindOfChange(t *testing.T) {
	tuesday10 := copenhagen(t, 10, 0)
	live := newEngine(t)
	recs := recordAll(t, live, []Input{
		connect(bob(), web1(), tuesday10),     // allowed; candidate: 1 h instead of 2 h
		connect(alice(), db1(), tuesday10),    // allowed; candidate: denied (ops lose prod)
		connect(mallory(), web1(), tuesday10), // denied; unchanged
		connect(carol(), web1(), tuesday10),   // denied; candidate: auditors may connect to staging
	})
	dir := copyDefaultPolicy(t)
	authz := filepath.Join(dir, "authz.rego")
	editFile(t, authz, `"max_duration_seconds": 7200, # 2 h`, `"max_duration_seconds": 3600,`)
	editFile(t, authz, `"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "staging"}],`)
	editFile(t, authz, `"actions": {"query_decisions"},
		"forbidden": {"connect":`, `"actions": {"query_decisions", "connect"}, "hosts": [{"env": "staging"}], "channels": ["shell"],
		"forbidden": {"administer":`)
	if err := os.Remove(filepath.Join(dir, "authz_test.rego")); err != nil {
		t.Fatal(err)
	}
	rep, err := Impact(t.Context(), newEngine(t, WithDir(dir)), seq(recs))
	if err != nil {
		t.Fatalf("Impact: %v", err)
	}
	kinds := map[string]string{}
	for _, c := range rep.Changes {
		kinds[c.Recorded.Subject] = c.Kind
	}
	want := map[string]string{"bob@example.com": ChangeObligations, "alice@example.com": ChangeAllowToDeny, "carol@example.com": ChangeDenyToAllow}
	if len(kinds) != len(want) {
		t.Errorf("changes %v, want %v", kinds, want)
	}
	for s, k := range want {
		if kinds[s] != k {
			t.Errorf("%s: change %q, want %q", s, kinds[s], k)
		}
	}
}

// recordAPI decides each API request with e and returns the records the CM keeps of them:
// under portcullis/api/<operation>, masked.
func recordAPI(t *testing.T, e *Engine, ids []string, inputs []Input) []Recorded {
	t.Helper()
	var recs []Recorded
	for i, in := range inputs {
		res, err := e.DecideAPI(t.Context(), in)
		if err != nil {
			t.Fatalf("DecideAPI: %v", err)
		}
		path := APIDecisionPath(in.Request.Operation)
		ev, err := e.Mask(t.Context(), Event{DecisionID: ids[i], Path: path, Input: res.Input, Result: res.Raw})
		if err != nil {
			t.Fatalf("Mask: %v", err)
		}
		recs = append(recs, Recorded{ID: ids[i], Time: in.Context.Time, Subject: in.Subject.ID, Host: in.Host.Name,
			Path: path, Allow: res.Decision.Allow, Result: ev.Result, Input: ev.Input})
	}
	return recs
}

// apiCall is the input of subject asking to perform op, as the CM's admin API builds it.
func apiCall(s Subject, op string, h Host, at time.Time) Input {
	return Input{Subject: s, Host: h, Request: Request{Action: ActionAdminister, Operation: op}, Context: Context{Time: at, GuestAddr: "203.0.113.7"}}
}

// Impact replays the admin and auditor API decisions too: a change to api.rego lists exactly
// the API decisions it flips, a change to authz.rego exactly the connections.
func TestImpactReplaysAPIDecisions(t *testing.T) {
	at := copenhagen(t, 10, 0)
	dave := Subject{ID: "dave@example.com", Groups: []string{"portcullis-admins"}, AMR: []string{"pwd", "mfa"}}
	live := newEngine(t)
	recs := recordAll(t, live, []Input{connect(alice(), db1(), at), ask(carol(), ActionQueryDecisions, at)}) // dec-0000, dec-0001
	recs = append(recs, recordAPI(t, live, []string{"api-query", "api-list", "api-delete", "api-disable"}, []Input{
		apiCall(carol(), "decisions.query", Host{}, at),
		apiCall(carol(), "hosts.list", Host{}, at),
		apiCall(carol(), "hosts.delete", db1(), at),
		apiCall(dave, "hosts.disable", db1(), at),
	})...)
	// A record whose input names another operation than its path (a mask may erase or rewrite
	// it) is replayed with the operation its path names, the one the CM asked about.
	noOp := recordAPI(t, live, []string{"api-query-masked"}, []Input{apiCall(carol(), "decisions.query", Host{}, at)})[0]
	noOp.Input = json.RawMessage(strings.Replace(string(noOp.Input), `"operation":"decisions.query"`, `"operation":"hosts.format"`, 1))
	recs = append(recs, noOp, Recorded{ID: "cm-own", Path: "portcullis/cm", Input: recs[0].Input})
	for _, r := range recs {
		if r.Path != DecisionPath && r.ID != "cm-own" && r.ID != "api-delete" && !r.Allow {
			t.Fatalf("test data: %s should be allowed", r.ID)
		}
	}

	for _, tc := range []struct {
		name  string
		file  string
		edits [][2]string
		want  map[string]string // decision id → kind of change
	}{
		{"auditors may no longer query the decision log", "api.rego",
			[][2]string{{`"auditors": {"hosts.list", "relays.list", "decisions.read", "decisions.query",`, `"auditors": {"hosts.list", "relays.list", "decisions.read",`}},
			map[string]string{"api-query": ChangeAllowToDeny, "api-query-masked": ChangeAllowToDeny}},
		{"auditors may delete hosts", "api.rego",
			[][2]string{{`"auditors": {"hosts.list",`, `"auditors": {"hosts.delete", "hosts.list",`}},
			map[string]string{"api-delete": ChangeDenyToAllow}},
		{"ops lose production", "authz.rego",
			[][2]string{{`"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "staging"}],`}},
			map[string]string{"dec-0000": ChangeAllowToDeny}},
		{"nothing that decides changes", "api.rego",
			[][2]string{{"mfa_required := set()", "mfa_required := set() # reviewed"}},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDefaultPolicy(t)
			for _, e := range tc.edits {
				editFile(t, filepath.Join(dir, tc.file), e[0], e[1])
			}
			rep, err := Impact(t.Context(), newEngine(t, WithDir(dir)), seq(recs))
			if err != nil {
				t.Fatalf("Impact: %v", err)
			}
			got := map[string]string{}
			for _, c := range rep.Changes {
				got[c.Recorded.ID] = c.Kind
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("changes %v, want %v", got, tc.want)
			}
			wantPaths := map[string]int{DecisionPath: 2, "portcullis/api/decisions.query": 2, "portcullis/api/hosts.list": 1,
				"portcullis/api/hosts.delete": 1, "portcullis/api/hosts.disable": 1}
			if rep.Replayed != len(recs)-1 || rep.Skipped != 1 || !maps.Equal(rep.ReplayedByPath, wantPaths) {
				t.Errorf("replayed %d %v, skipped %d; want %d %v and 1", rep.Replayed, rep.ReplayedByPath, rep.Skipped, len(recs)-1, wantPaths)
			}
		})
	}
}

// The CM's own refusals (label refusal, e.g. dave's malformed GET /v1/hosts?tenant=acme,
// recorded under portcullis/api/hosts.list) are never replayed: the policy did not decide them,
// so the unchanged policy must not list them as decisions that would flip.
func TestImpactSkipsTheCMsOwnRefusals(t *testing.T) {
	at := copenhagen(t, 10, 0)
	dave := Subject{ID: "dave@example.com", Groups: []string{"portcullis-admins"}, AMR: []string{"pwd"}}
	live := newEngine(t)
	decided := recordAPI(t, live, []string{"api-list"}, []Input{apiCall(dave, "hosts.list", Host{}, at)})[0]
	asDecision := func(r Recorded, labels map[string]string) api.Decision {
		var in, res any
		if err := json.Unmarshal(r.Input, &in); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(r.Result, &res); err != nil {
			t.Fatal(err)
		}
		return api.Decision{ID: r.ID, Time: r.Time, Path: r.Path, Subject: r.Subject, Allow: r.Allow, Input: in, Result: res, Labels: labels}
	}
	refused := asDecision(decided, map[string]string{LabelRefusal: "bad_request", "operation": "hosts.list", "query": "tenant=acme"})
	refused.ID, refused.Allow = "api-list-malformed", false
	refused.Result = map[string]any{"allow": false, "reasons": []any{`unknown query parameter "tenant": GET /v1/hosts takes no query parameters`}}
	for _, tc := range []struct {
		name                                   string
		records                                []api.Decision
		wantReplayed, wantSkipped, wantRefused int
	}{
		{"the CM's refusal alone", []api.Decision{refused}, 0, 1, 1},
		{"the CM's refusal and the policy's decision", []api.Decision{refused, asDecision(decided, map[string]string{"operation": "hosts.list"})}, 1, 1, 1},
		{"the policy's decision alone", []api.Decision{asDecision(decided, nil)}, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Impact(t.Context(), newEngine(t), RecordedDecisions(apiRecords(tc.records)))
			if err != nil {
				t.Fatalf("Impact: %v", err)
			}
			if len(rep.Changes) > 0 {
				t.Errorf("the serving policy, replayed, changes %s (%s)", rep.Changes[0].Recorded.ID, rep.Changes[0].Kind)
			}
			if rep.Replayed != tc.wantReplayed || rep.Skipped != tc.wantSkipped || rep.SkippedRefusals != tc.wantRefused {
				t.Errorf("replayed %d, skipped %d (%d refusals); want %d, %d (%d)",
					rep.Replayed, rep.Skipped, rep.SkippedRefusals, tc.wantReplayed, tc.wantSkipped, tc.wantRefused)
			}
		})
	}
}

// apiRecords yields ds as the decision log's API gives them.
func apiRecords(ds []api.Decision) iter.Seq2[api.Decision, error] {
	return func(yield func(api.Decision, error) bool) {
		for _, d := range ds {
			if !yield(d, nil) {
				return
			}
		}
	}
}
