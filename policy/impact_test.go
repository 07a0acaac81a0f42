package policy

import (
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"testing"
	"time"
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
