package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

func TestPrintImpactTable(t *testing.T) {
	at := time.Date(2026, 11, 24, 7, 30, 0, 0, time.UTC)
	rep := policy.ImpactReport{
		Replayed: 3, Skipped: 2, SkippedRefusals: 1, ReplayedByPath: map[string]int{policy.DecisionPath: 2, policy.APIDecisionPath("decisions.query"): 1},
		Changes: []policy.Change{
			{Recorded: policy.Recorded{ID: "dec_1", Time: at, Subject: "bob@example.com", Host: "web-1"}, Kind: policy.ChangeAllowToDeny,
				After: policy.Decision{Reasons: []string{"outside the window"}}},
			{Recorded: policy.Recorded{ID: "dec_2", Time: at, Subject: "bob@example.com", Host: "web-1"}, Kind: policy.ChangeObligations,
				After: policy.Decision{Allow: true, Obligations: access.Obligations{MaxDurationSeconds: 1800}}},
			{Recorded: policy.Recorded{ID: "dec_3", Time: at, Subject: "carol@example.com", Path: policy.APIDecisionPath("decisions.query")},
				Kind: policy.ChangeAllowToDeny, After: policy.Decision{Reasons: []string{"no group of carol@example.com (auditors) may query the decision log"}}},
		},
		Counts: map[string]int{policy.ChangeAllowToDeny: 2, policy.ChangeObligations: 1},
	}
	var out bytes.Buffer
	if err := printImpact(&out, formatTable, "rev-2", rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"allow_to_deny  dec_1", "outside the window", `"max_duration_seconds":1800`,
		"dec_3     2026-11-24T07:30:00Z  portcullis/api/decisions.query  carol@example.com",
		"allow_to_deny: 2\ndeny_to_allow: 0\nobligations: 1\n",
		"replayed 3 decisions against candidate rev-2 (2 connects, by authz.rego; 1 API operations, portcullis/api/*, by api.rego); " +
			"skipped 2 that the CM made without the policy (1 its own refusals) or recorded without input; 3 would change",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPolicyTestExitsNonZeroOnAFailure(t *testing.T) {
	var out bytes.Buffer
	if err := runPolicyTest(t.Context(), rego.Files(), "the embedded policy", 90, &out); err != nil || !strings.Contains(out.String(), "coverage: 100.0%") {
		t.Fatalf("the default policy: %v\n%s", err, out.String())
	}
	failing := fstest.MapFS{
		"p.rego":      {Data: []byte("package portcullis.authz\n\ndecision := {\"allow\": false}\n")},
		"p_test.rego": {Data: []byte("package portcullis.authz_test\n\ntest_allows if data.portcullis.authz.decision.allow\n")},
	}
	out.Reset()
	var ee *exitError
	if err := runPolicyTest(t.Context(), failing, "failing", 0, &out); !errors.As(err, &ee) || ee.code != exitPolicyFailed || !strings.Contains(out.String(), "FAIL data.portcullis.authz_test.test_allows") {
		t.Errorf("a failing test: err %v, output:\n%s", err, out.String())
	}
}
