package console

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
