package gateway_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

// writePolicyDir writes the default policy into dir, its tests only when withTests.
func writePolicyDir(t *testing.T, dir string, withTests bool) {
	t.Helper()
	err := fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, "_test.rego") && !withTests {
			if err := os.Remove(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The policy gate shows in GET /v1/policy/status and /metrics: a policy without tests is
// refused on reload and reported like any refused reload, and one the operator allowed to
// serve untested says so.
func TestPolicyStatusAndMetricsShowTheUntestedGate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		allowUntested bool
		wantStatus    func(policy.Status) bool
		wantMetrics   []string
	}{
		{
			name: "an untested candidate is refused; the tested policy keeps serving",
			wantStatus: func(st policy.Status) bool {
				return !st.Untested && !st.AllowUntested && st.Tests > 0 && st.Failures == 1 && strings.Contains(st.LastError, "no tests")
			},
			wantMetrics: []string{"portcullis_policy_untested 0", "portcullis_policy_untested_allowed 0",
				"portcullis_policy_reload_failures_total 1", "portcullis_policy_last_reload_failed 1"},
		},
		{
			name:          "allowed, the untested policy serves and is shown",
			allowUntested: true,
			wantStatus: func(st policy.Status) bool {
				return st.Untested && st.AllowUntested && st.Tests == 0 && st.Failures == 0 && st.LastError == ""
			},
			wantMetrics: []string{"portcullis_policy_untested 1", "portcullis_policy_untested_allowed 1",
				"portcullis_policy_reload_failures_total 0", "portcullis_policy_last_reload_failed 0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writePolicyDir(t, dir, true)
			m, err := policy.NewManager(context.Background(), policy.ManagerConfig{Dir: dir, AllowUntested: tc.allowUntested})
			if err != nil {
				t.Fatal(err)
			}
			c := startCM(t, withPolicy(m))
			writePolicyDir(t, dir, false)
			if _, err := m.Reload(context.Background()); (err == nil) == !tc.allowUntested {
				t.Fatalf("Reload of the untested policy: %v", err)
			}
			var st policy.Status
			if err := c.call(c.login(t, "carol@example.com", ""), http.MethodGet, api.PathPolicyStatus, nil, &st); err != nil {
				t.Fatalf("policy status: %v", err)
			}
			if !tc.wantStatus(st) {
				t.Errorf("policy status %+v", st)
			}
			res, err := c.http.Get(c.url + api.PathMetrics)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body := readAll(t, res)
			for _, want := range tc.wantMetrics {
				if !strings.Contains(body, want+"\n") {
					t.Errorf("metrics lack %q", want)
				}
			}
		})
	}
}
