package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/store"
)

// 'policy impact' replays every record of a log of more pages than one answer holds: 2,500
// allowed connects to production, which a candidate that takes production from ops denies.
func TestPolicyImpactReplaysEveryRecordOfALargeLog(t *testing.T) {
	const n = 2500
	cm := startTestCM(t, "sqlite:"+filepath.Join(t.TempDir(), "cm.db"))
	newest := time.Now().Add(-time.Hour)
	insertVolume(t, cm.store, n, newest)
	current, err := policy.New(t.Context(), policy.WithFS(rego.Files()))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := current.DecideJSON(t.Context(), volumeInput(t, newest)); err != nil || !res.Decision.Allow {
		t.Fatalf("the default policy does not allow the recorded input: %+v, %v", res.Decision, err)
	}
	dir := t.TempDir()
	for _, name := range []string{"authz.rego", "mask.rego", "input.schema.json"} {
		b, err := fs.ReadFile(rego.Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "authz.rego" {
			b = []byte(strings.Replace(string(b), `"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "staging"}],`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := policyImpactConfig{guestConfig: cm.signIn(t, "carol@example.com"), Candidate: dir, Since: "1d",
		Until: newest.Add(time.Second).Format(time.RFC3339Nano), Format: formatJSON, FailOnChange: true}
	var out bytes.Buffer
	err = runPolicyImpact(t.Context(), cfg, &out)
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != exitPolicyFailed {
		t.Fatalf("policy impact: %v, want exit status %d\n%.2000s", err, exitPolicyFailed, out.String())
	}
	var rep struct {
		Replayed int            `json:"replayed"`
		Counts   map[string]int `json:"counts"`
		Changes  []struct {
			DecisionID string `json:"decision_id"`
			Kind       string `json:"kind"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range rep.Changes {
		if c.Kind != policy.ChangeAllowToDeny || !strings.HasPrefix(c.DecisionID, "vol-") {
			t.Errorf("change %+v, want only allow_to_deny of the recorded connects", c)
		}
		ids[c.DecisionID] = true
	}
	if rep.Replayed != n || rep.Counts[policy.ChangeAllowToDeny] != n || len(ids) != n {
		t.Errorf("replayed %d, counts %v, %d distinct changes; want all %d", rep.Replayed, rep.Counts, len(ids), n)
	}
}

// 'logs trace' follows a decision to its tickets, its session and how that ended, and a
// session back to its decision; 'sessions ls --decision' finds the session of a decision.
func TestLogsTraceFollowsADecisionToItsSessionAndBack(t *testing.T) {
	cm := startTestCM(t, "sqlite:"+filepath.Join(t.TempDir(), "cm.db"))
	ctx := context.Background()
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	record := func(id string, allow bool, labels map[string]string, sess *store.Session) {
		t.Helper()
		d := store.Decision{ID: id, Time: at, Path: policy.DecisionPath, Subject: "alice@example.com", HostID: "host_db1", HostName: "db-1",
			Allow: allow, Reasons: []string{"group ops may connect"}, Input: json.RawMessage(`{}`), Result: json.RawMessage(`{}`), Revision: "rev-1", Labels: labels}
		if err := cm.store.InsertDecisionAndSession(ctx, d, sess); err != nil {
			t.Fatal(err)
		}
	}
	session := func(id, decision string) *store.Session {
		return &store.Session{ID: id, DecisionID: decision, Subject: "alice@example.com", HostID: "host_db1", HostName: "db-1",
			RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"}, StartedAt: at}
	}
	record("dec_granted", true, map[string]string{api.LabelOutcome: "granted", api.LabelSession: "ses_1", api.LabelRelay: "cs-eu-1"}, session("ses_1", "dec_granted"))
	if err := cm.store.EndSession(ctx, "ses_1", at.Add(8*time.Hour), 4096, 65536, "max_duration"); err != nil {
		t.Fatal(err)
	}
	record("dec_unlabelled", true, nil, session("ses_2", "dec_unlabelled"))
	record("dec_denied", false, nil, nil)
	record("dec_offline", true, map[string]string{api.LabelOutcome: "host_offline"}, nil)
	record("dec_forged", true, map[string]string{api.LabelSession: "ses_1"}, nil)
	carol := cm.signIn(t, "carol@example.com")

	for _, tc := range []struct {
		name    string
		id      string
		session bool
		want    []string
		wantErr string
	}{
		{"a granted decision to its end", "dec_granted", false, []string{
			"decision  dec_granted  2026-11-24T09:00:00Z  allow  alice@example.com → db-1  group ops may connect (policy rev-1)",
			"ticket    did=dec_granted sid=ses_1 relay=cs-eu-1",
			"session   ses_1  started 2026-11-24T09:00:00Z", "4096 bytes up, 65536 down",
			"end       2026-11-24T17:00:00Z  max_duration"}, ""},
		{"a session back to its decision", "ses_1", true, []string{"decision  dec_granted", "sid=ses_1", "max_duration"}, ""},
		{"a record without the label, through sessions?decision=", "dec_unlabelled", false, []string{"sid=ses_2", "end       live"}, ""},
		{"a denial grants no ticket", "dec_denied", false, []string{"decision  dec_denied", "deny", "ticket    none: the decision denied"}, ""},
		{"a grant stopped before its session", "dec_offline", false, []string{"ticket    none: the grant stopped at host_offline"}, ""},
		{"a record and a session that disagree", "dec_forged", false, nil, "names decision \"dec_granted\""},
		{"no such decision", "dec_nowhere", false, nil, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runLogsTrace(t.Context(), logsTraceConfig{guestConfig: carol, Session: tc.session, Format: formatTable}, tc.id, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("trace %s: %v, want an error saying %q", tc.id, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("trace %s: %v", tc.id, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("trace lacks %q:\n%s", w, out.String())
				}
			}
		})
	}

	var js bytes.Buffer
	if err := runLogsTrace(t.Context(), logsTraceConfig{guestConfig: carol, Format: formatJSON}, "dec_granted", &js); err != nil {
		t.Fatal(err)
	}
	var tr trace
	if err := json.Unmarshal(js.Bytes(), &tr); err != nil || tr.Decision.ID != "dec_granted" || tr.Session == nil || tr.Session.EndReason != "max_duration" {
		t.Errorf("--format json: %+v, %v\n%s", tr, err, js.String())
	}

	for decision, want := range map[string]string{"dec_unlabelled": "ses_2", "dec_denied": ""} {
		cmd := newSessionsCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"ls", "--decision", decision, "--cm", carol.CM, "--ca-file", carol.CAFile, "--config-dir", carol.ConfigDir})
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatalf("sessions ls --decision %s: %v", decision, err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n") // the header, the sessions, their count
		if want == "" && len(lines) != 2 || want != "" && (len(lines) != 3 || !strings.HasPrefix(lines[1], want+" ")) {
			t.Errorf("sessions ls --decision %s:\n%s\nwant only %q", decision, out.String(), want)
		}
	}
}

// --format json streams one array that reads as the records, whatever their count.
func TestRecordWriterStreamsJSONAsOneArray(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		var out bytes.Buffer
		w := newRecordWriter(formatJSON, &out)
		var want []api.Decision
		for i := range n {
			d := api.Decision{ID: "dec_" + string(rune('a'+i)), Reasons: []string{"r"}, Input: map[string]any{"k": "v"}}
			want = append(want, d)
			if err := w.write(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = []api.Decision{}
		}
		var whole bytes.Buffer
		enc := json.NewEncoder(&whole)
		enc.SetIndent("", "  ")
		if err := enc.Encode(want); err != nil {
			t.Fatal(err)
		}
		if out.String() != whole.String() {
			t.Errorf("%d records streamed:\n%s\nwant as encoded whole:\n%s", n, out.String(), whole.String())
		}
	}
}
