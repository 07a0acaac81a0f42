package console

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/portcullis/portcullis/policy"
)

// closedModule denies every connect.
const closedModule = `package portcullis.authz

decision := {"allow": false, "reasons": ["closed"], "obligations": {}}
`

// impactRequest is the Policy page's impact form as a browser posts it (multipart), with an
// archive or with the file input left empty.
func impactRequest(t *testing.T, fields map[string]string, archive []byte) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile(fieldArchive, "")
	if archive != nil {
		fw, err = mw.CreateFormFile(fieldArchive, "candidate.tar.gz")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(archive)
	_ = mw.Close()
	r := httptest.NewRequest(http.MethodPost, "/ui/policy/impact", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return r
}

func TestPastedCandidate(t *testing.T) {
	c := &Console{cfg: Config{}}
	passing := "package portcullis.authz_test\n\nimport data.portcullis.authz\n\ntest_closed if not authz.decision.allow\n"
	failing := "package portcullis.authz_test\n\nimport data.portcullis.authz\n\ntest_open if authz.decision.allow\n"
	archive := tarball(t, true, map[string]string{"authz.rego": closedModule})
	for _, tc := range []struct {
		name    string
		fields  map[string]string
		archive []byte
		err     string // "" when accepted
		tests   int
	}{
		{"a module", map[string]string{fieldModule: closedModule}, nil, "", 0},
		{"a module and its passing test", map[string]string{fieldModule: closedModule, fieldTestModule: passing}, nil, "", 1},
		{"failing tests", map[string]string{fieldModule: closedModule, fieldTestModule: failing}, nil, "1 of the candidate's 1 tests fail: data.portcullis.authz_test.test_open", 0},
		{"bad Rego", map[string]string{fieldModule: "package portcullis.authz\n\ndecision := {"}, nil, "the candidate does not parse", 0},
		{"no package", map[string]string{fieldModule: "decision := 1"}, nil, "the candidate does not parse", 0},
		{"a forbidden builtin", map[string]string{fieldModule: "package portcullis.authz\n\nr := http.send({})\n"}, nil, "calls http.send", 0},
		{"nothing", map[string]string{}, nil, "paste a candidate Rego module or choose a policy archive", 0},
		{"tests alone", map[string]string{fieldTestModule: passing}, nil, "paste the module its tests test too", 0},
		{"both", map[string]string{fieldModule: closedModule}, archive, "not both", 0},
		{"an upload", map[string]string{}, archive, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cand, err := c.candidate(context.Background(), impactRequest(t, tc.fields, tc.archive))
			if tc.err == "" {
				if err != nil || cand.engine == nil || cand.tests != tc.tests || cand.pasted != (tc.archive == nil) {
					t.Fatalf("candidate: %+v, %v; want %d tests", cand, err, tc.tests)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("candidate: %v, want an error with %q", err, tc.err)
			}
		})
	}
}

// TestPastedModuleReplaysItsOwnPackage: a pasted authz module does not replay API records,
// which its package does not decide; an uploaded policy replays all.
func TestPastedModuleReplaysItsOwnPackage(t *testing.T) {
	recs := func(yield func(policy.Recorded, error) bool) {
		for _, p := range []string{policy.DecisionPath, policy.APIDecisionPath("decisions.query"), "other"} {
			if !yield(policy.Recorded{ID: p, Path: p, Input: []byte(`{}`)}, nil) {
				return
			}
		}
	}
	kept := func(c candidate) []string {
		var ids []string
		for rec := range c.replayed(recs) {
			if rec.Input != nil {
				ids = append(ids, rec.ID)
			}
		}
		return ids
	}
	if got := kept(candidate{pasted: true, packages: map[string]bool{pkgAuthz: true}}); strings.Join(got, ",") != policy.DecisionPath+",other" {
		t.Errorf("a pasted authz module replays %v", got)
	}
	if got := kept(candidate{}); len(got) != 3 {
		t.Errorf("an uploaded policy replays %v", got)
	}
}

// TestCandidateNeverRunsForbiddenBuiltins: a candidate that uses a builtin reaching the
// network or the CM's process, called or named as a `with` replacement in its tests (an
// auditor's paste trusted less than the security team's policy), is refused with a message
// naming the builtin, and nothing reaches the network while its tests would have run.
func TestCandidateNeverRunsForbiddenBuiltins(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"secret": "internal"}`))
	}))
	defer srv.Close()
	const module = "package portcullis.authz\n\nfetch(_) := {\"status_code\": 0}\n\ndecision := {\"allow\": false, \"reasons\": [\"x\"], \"obligations\": {}}\n"
	withTest := func(builtin, arg string) string {
		return "package portcullis.authz_test\n\nimport data.portcullis.authz\n\ntest_it if {\n  r := authz.fetch(" + arg + ") with authz.fetch as " + builtin + "\n  r.status_code == 200\n}\n"
	}
	c := &Console{cfg: Config{}}
	for _, tc := range []struct {
		name   string
		fields map[string]string
		err    string
	}{
		{"http.send named as a with replacement in the tests", map[string]string{fieldModule: module,
			fieldTestModule: withTest("http.send", `{"method": "GET", "url": "`+srv.URL+`"}`)}, "candidate_test.rego calls http.send"},
		{"net.lookup_ip_addr named as a with replacement in the tests", map[string]string{fieldModule: module,
			fieldTestModule: withTest("net.lookup_ip_addr", `"localhost"`)}, "calls net.lookup_ip_addr"},
		{"opa.runtime read by the module", map[string]string{fieldModule: "package portcullis.authz\n\ndecision := {\"allow\": count(opa.runtime().env) > 0}\n"}, "calls opa.runtime"},
		{"json.match_schema, whose schema may $ref a URL", map[string]string{fieldModule: "package portcullis.authz\n\ndecision := {\"allow\": json.match_schema({}, {\"$ref\": \"" + srv.URL + "\"})[0]}\n"}, "calls json.match_schema"},
		{"http.send called in the tests", map[string]string{fieldModule: module,
			fieldTestModule: "package portcullis.authz_test\n\ntest_it if http.send({\"method\": \"GET\", \"url\": \"" + srv.URL + "\"}).status_code == 200\n"}, "calls http.send"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.candidate(context.Background(), impactRequest(t, tc.fields, nil))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("candidate: %v, want an error with %q", err, tc.err)
			}
			if n := hits.Load(); n > 0 {
				t.Fatalf("%d requests reached %s from inside the CM", n, srv.URL)
			}
		})
	}
}

// TestForbiddenBuiltinsCoverIOAndNondeterminism: every builtin that does I/O or reads the
// process, every one OPA marks non-deterministic, and those that read the clock unmarked, is
// withheld from candidates.
func TestForbiddenBuiltinsCoverIOAndNondeterminism(t *testing.T) {
	want := []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "json.match_schema", "json.verify_schema",
		"crypto.x509.parse_and_verify_certificates", "crypto.x509.parse_and_verify_certificates_with_options"}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if b.Nondeterministic {
			want = append(want, b.Name)
		}
	}
	forbidden := forbiddenBuiltins()
	for _, name := range want {
		if !slices.Contains(forbidden, name) {
			t.Errorf("%s is not withheld from candidates", name)
		}
	}
}
