package policy

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/portcullis/portcullis/access"
	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// story is one request of SCENARIOS.md and what the default policy must answer.
type story struct {
	name        string
	in          Input
	allow       bool
	reason      string              // some reason contains it
	obligations *access.Obligations // when not nil, the obligations must equal it
}

func stories(t testing.TB) []story {
	tuesday10 := copenhagen(t, 10, 0)
	tuesday22 := copenhagen(t, 22, 0)
	queryLog := ActionQueryDecisions
	return []story{
		{
			name: "1 alice with MFA reaches db-1", in: connect(alice(), db1(), tuesday10), allow: true,
			reason: "group ops may connect to db-1 (env=prod)",
			obligations: &access.Obligations{
				MaxDurationSeconds: 8 * 3600, MinEncryption: access.LevelVeryHigh,
				Channels:       []string{access.ChannelExec, access.ChannelForward, access.ChannelSFTP, access.ChannelShell},
				ForwardTargets: []string{"localhost:5432", "localhost:8080"},
			},
		},
		{
			name: "2 alice without MFA is refused on db-1", in: connect(aliceWithoutMFA(), db1(), tuesday10),
			reason: "MFA is required for production",
		},
		{
			name: "3 bob on Tuesday 10:00 reaches web-1 for 2 h of shell", in: connect(bob(), web1(), tuesday10), allow: true,
			reason:      "group contractors may connect to web-1 (env=staging)",
			obligations: &access.Obligations{MaxDurationSeconds: 2 * 3600, MinEncryption: access.LevelHigh, Channels: []string{access.ChannelShell}},
		},
		{
			name: "4 bob at 22:00 is refused and told the window", in: connect(bob(), web1(), tuesday22),
			reason: "08:00–18:00 Europe/Copenhagen; it is Tuesday 22:00 there",
		},
		{
			name: "5 carol may not connect to web-1", in: connect(carol(), web1(), tuesday10),
			reason: "auditors review the decision log and never connect to hosts",
		},
		{
			name: "5 carol may not connect to db-1", in: connect(carol(), db1(), tuesday10),
			reason: "auditors review the decision log and never connect to hosts",
		},
		{
			name: "5 carol queries the decision log", in: ask(carol(), queryLog, tuesday10), allow: true,
			reason: "group auditors may query the decision log", obligations: &access.Obligations{},
		},
		{
			name: "6 mallory may not query the decision log", in: ask(mallory(), queryLog, tuesday10),
			reason: "mallory@example.com belongs to no group",
		},
		{
			name: "6 mallory may not connect", in: connect(mallory(), web1(), tuesday10),
			reason: "mallory@example.com belongs to no group",
		},
		{
			name: "7 alice reaches kiosk-7 through private relays only", in: connect(alice(), kiosk7(), tuesday10), allow: true,
			reason: "group ops may connect to kiosk-7 (env=prod)",
			obligations: &access.Obligations{
				MaxDurationSeconds: 8 * 3600, MinEncryption: access.LevelVeryHigh, PrivateRelaysOnly: true,
				Channels:       []string{access.ChannelExec, access.ChannelForward, access.ChannelSFTP, access.ChannelShell},
				ForwardTargets: []string{"localhost:5432", "localhost:8080"},
			},
		},
	}
}

// check reports how res differs from what the story demands.
func (s story) check(t testing.TB, res Result, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: Decide: %v", s.name, err)
		return
	}
	d := res.Decision
	if d.Allow != s.allow {
		t.Errorf("%s: allow = %v, want %v (reasons %q)", s.name, d.Allow, s.allow, d.Reasons)
	}
	if !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, s.reason) }) {
		t.Errorf("%s: reasons %q, want one containing %q", s.name, d.Reasons, s.reason)
	}
	if s.obligations != nil && !d.Obligations.Equal(*s.obligations) {
		t.Errorf("%s: obligations %+v, want %+v", s.name, d.Obligations, *s.obligations)
	}
	if !s.allow && !d.Obligations.Equal(access.Obligations{}) {
		t.Errorf("%s: a refusal carries obligations %+v", s.name, d.Obligations)
	}
}

// sameObligations compares obligations, treating nil and empty lists alike.

func newEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	e, err := New(t.Context(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func TestDecideTellsTheStories(t *testing.T) {
	e := newEngine(t)
	for _, s := range stories(t) {
		t.Run(s.name, func(t *testing.T) {
			res, err := e.Decide(t.Context(), s.in)
			s.check(t, res, err)
			if res.Revision != e.Revision() {
				t.Errorf("result revision %q, engine revision %q", res.Revision, e.Revision())
			}
			if res.EvalNS <= 0 {
				t.Errorf("EvalNS = %d, want the evaluation time", res.EvalNS)
			}
			var raw Decision
			if err := json.Unmarshal(res.Raw, &raw); err != nil || raw.Allow != res.Decision.Allow {
				t.Errorf("Raw %s does not hold the decision (%v)", res.Raw, err)
			}
		})
	}
}

func TestDecideConcurrently(t *testing.T) {
	const goroutines, rounds = 16, 8
	e := newEngine(t)
	all := stories(t)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				s := all[(g+r)%len(all)]
				res, err := e.Decide(t.Context(), s.in)
				s.check(t, res, err)
			}
		})
	}
	wg.Wait()
}

func TestDecideJSONReplaysARecordedInput(t *testing.T) {
	e := newEngine(t)
	first, err := e.Decide(t.Context(), connect(bob(), web1(), copenhagen(t, 22, 0)))
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	again, err := e.DecideJSON(t.Context(), first.Input)
	if err != nil {
		t.Fatalf("DecideJSON: %v", err)
	}
	if !bytes.Equal(first.Raw, again.Raw) || again.Decision.Allow {
		t.Errorf("replay decided %s, first decided %s", again.Raw, first.Raw)
	}
}

func TestDecideJSONRefusesWhatIsNotAnObject(t *testing.T) {
	e := newEngine(t)
	for _, raw := range []string{"", "nope", "[]", "null", `"alice"`, "42", `{"subject": {}} {}`, `{"subject":`} {
		res, err := e.DecideJSON(t.Context(), json.RawMessage(raw))
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("DecideJSON(%q) error = %v, want ErrInvalidInput", raw, err)
		}
		if res.Decision.Allow || !slices.Equal(res.Decision.Reasons, []string{ReasonInvalidInput}) {
			t.Errorf("DecideJSON(%q) decision = %+v, want a refusal", raw, res.Decision)
		}
	}
}

// policyFS is a one-module policy whose decision rule is given.
func policyFS(decision string) fstest.MapFS {
	return fstest.MapFS{"p.rego": {Data: []byte("package portcullis.authz\n\n" + decision + "\n")}}
}

func TestDecideFailsClosed(t *testing.T) {
	tests := []struct {
		name     string
		decision string
		input    string
		wantErr  error
		want     Decision
	}{
		{
			name:     "undefined decision",
			decision: `decision := {"allow": true, "reasons": ["magic"]} if input.magic`,
			input:    `{}`,
			want:     refusal(ReasonNoDecision),
		},
		{
			name:     "allow is a string",
			decision: `decision := {"allow": "yes", "reasons": []}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "allow is null",
			decision: `decision := {"allow": null}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "allow is missing",
			decision: `decision := {"reasons": ["forgot"]}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "decision is not an object",
			decision: `decision := true`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "reasons are not strings",
			decision: `decision := {"allow": true, "reasons": [1]}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "an obligation the engine cannot enforce",
			decision: `decision := {"allow": true, "reasons": ["ok"], "obligations": {"private_relay_only": true}}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "a negative max_duration_seconds, which no session could honour",
			decision: `decision := {"allow": true, "reasons": ["ok"], "obligations": {"max_duration_seconds": -1}}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "the most negative max_duration_seconds",
			decision: `decision := {"allow": true, "reasons": ["ok"], "obligations": {"max_duration_seconds": -9223372036854775808}}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "a negative max_duration_seconds on a refusal is malformed too",
			decision: `decision := {"allow": false, "reasons": ["no"], "obligations": {"max_duration_seconds": -60}}`,
			wantErr:  ErrMalformedDecision,
			want:     refusal(ReasonMalformedDecision),
		},
		{
			name:     "evaluation error",
			decision: "decision := {\"allow\": true} if input.a\n\ndecision := {\"allow\": false} if input.b",
			input:    `{"a": true, "b": true}`,
			wantErr:  ErrEvaluation,
			want:     refusal(ReasonEvalFailed),
		},
		{
			name:     "a refusal without reasons gets one, and loses its obligations",
			decision: `decision := {"allow": false, "obligations": {"max_duration_seconds": 60}}`,
			want:     refusal(ReasonUnexplained),
		},
		{
			name:     "extra members are kept in Raw only",
			decision: `decision := {"allow": true, "reasons": ["ok"], "labels": {"team": "web"}}`,
			want:     Decision{Allow: true, Reasons: []string{"ok"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, WithFS(policyFS(tt.decision)))
			input := cmp.Or(tt.input, `{}`)
			res, err := e.DecideJSON(t.Context(), json.RawMessage(input))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if res.Decision.Allow != tt.want.Allow || !slices.Equal(res.Decision.Reasons, tt.want.Reasons) ||
				!res.Decision.Obligations.Equal(tt.want.Obligations) {
				t.Errorf("decision = %+v, want %+v", res.Decision, tt.want)
			}
		})
	}
}

func TestNewRefusesBrokenPolicies(t *testing.T) {
	tests := []struct {
		name string
		fsys fs.FS
		want string // the error names it
	}{
		{"parse error", fstest.MapFS{"authz.rego": {Data: []byte("package portcullis.authz\n\ndecision := {\n")}}, "authz.rego:"},
		{"unsafe variable", policyFS(`decision := {"allow": x}`), "rego_unsafe_var_error"},
		{"unknown builtin", policyFS(`decision := {"allow": no.such_builtin(1)}`), "rego_type_error"},
		{"no decision rule", fstest.MapFS{"p.rego": {Data: []byte("package portcullis.authz\n\nallow := true\n")}}, `defines the rule "decision"`},
		{"decision in another package", fstest.MapFS{"p.rego": {Data: []byte("package other\n\ndecision := {\"allow\": true}\n")}}, `defines the rule "decision"`},
		{"only tests", fstest.MapFS{"p_test.rego": {Data: []byte("package t\n\ntest_x if true\n")}}, "no .rego modules"},
		{"bad schema", fstest.MapFS{"p.rego": policyFS(`decision := {"allow": false}`)["p.rego"], inputSchemaFile: {Data: []byte("{")}}, inputSchemaFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(t.Context(), WithFS(tt.fsys))
			if !errors.Is(err, ErrInvalidPolicy) || e != nil {
				t.Fatalf("New = %v, %v; want ErrInvalidPolicy", e, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestInputSchemaTypeChecksThePolicy(t *testing.T) {
	typo := []byte("package portcullis.extra\n\ntypo if \"ops\" in input.subject.grups\n")
	withSchema := defaultFilesPlus(t, "typo.rego", typo)
	if _, err := New(t.Context(), WithFS(withSchema)); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "grups") {
		t.Errorf("a typo against input.schema.json: New error = %v, want a type error naming grups", err)
	}
	delete(withSchema, inputSchemaFile)
	if _, err := New(t.Context(), WithFS(withSchema)); err != nil {
		t.Errorf("without a schema the same policy must compile: %v", err)
	}
}

// defaultFilesPlus copies the default policy files into a MapFS and adds one file.
func defaultFilesPlus(t *testing.T, name string, data []byte) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{name: {Data: data}}
	err := fs.WalkDir(defaultpolicy.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(defaultpolicy.Files(), p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatalf("copy default policy: %v", err)
	}
	return m
}

func TestRevision(t *testing.T) {
	e := newEngine(t)
	h := sha256.New()
	for _, p := range []string{"api.rego", "authz.rego", "mask.rego"} {
		b, err := fs.ReadFile(defaultpolicy.Files(), p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(p + "\x00"))
		h.Write(append(b, 0))
	}
	if want := hex.EncodeToString(h.Sum(nil)); e.Revision() != want {
		t.Errorf("Revision = %s, want sha256 over the deciding modules %s", e.Revision(), want)
	}

	tests := defaultFilesPlus(t, "more_test.rego", []byte("package more_test\n\ntest_more if true\n"))
	if got := newEngine(t, WithFS(tests)).Revision(); got != e.Revision() {
		t.Errorf("adding a test changed the revision: %s", got)
	}
	changed := defaultFilesPlus(t, "extra.rego", []byte("package portcullis.extra\n\nx := 1\n"))
	if got := newEngine(t, WithFS(changed)).Revision(); got == e.Revision() {
		t.Errorf("adding a module kept the revision %s", got)
	}
}

func TestWithDirReadsAPolicyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, defaultpolicy.Files()); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, WithDir(dir))
	if e.Revision() != newEngine(t).Revision() {
		t.Errorf("the default policy read from %s has another revision", dir)
	}
	res, err := e.Decide(t.Context(), connect(aliceWithoutMFA(), db1(), copenhagen(t, 10, 0)))
	if err != nil || res.Decision.Allow {
		t.Errorf("Decide = %+v, %v; want a refusal", res.Decision, err)
	}
	if _, err := New(t.Context(), WithDir(path.Join(dir, "missing"))); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("a missing directory: error = %v, want ErrInvalidPolicy", err)
	}
}

func TestWithLoggerReportsRefusalsTheEngineMade(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	e := newEngine(t, WithFS(policyFS(`decision := {"allow": true} if input.magic`)), WithLogger(logger))
	if _, err := e.DecideJSON(t.Context(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"policy loaded", "policy returned no decision"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
}
