package policy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

// TestWithoutBuiltinsRefusesEveryUseOfThem: a policy compiled without http.send,
// net.lookup_ip_addr and opa.runtime is refused, by New and by Test, whether it calls one or
// names it as a `with` replacement (which a syntactic scan for calls misses), with an error
// naming the builtin, and no request leaves; the same modules compile with every builtin,
// and an ordinary policy compiles without them.
func TestWithoutBuiltinsRefusesEveryUseOfThem(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"secret": "internal"}`))
	}))
	defer srv.Close()
	const authz = "package portcullis.authz\n\nfetch(_) := {\"status_code\": 0}\n\ndecision := {\"allow\": false, \"reasons\": [\"closed\"], \"obligations\": {}}\n"
	tests := func(body string) fstest.MapFS {
		return fstest.MapFS{"authz.rego": {Data: []byte(authz)},
			"authz_test.rego": {Data: []byte("package portcullis.authz_test\n\nimport data.portcullis.authz\n\n" + body + "\n")}}
	}
	cases := []struct {
		name    string
		fsys    fstest.MapFS
		refused string // the builtin the refusal names; "" when it compiles
		inTests bool   // only the tests use it: New, which leaves them out, compiles the policy
	}{
		{"an ordinary policy", tests("test_closed if not authz.decision.allow"), "", false},
		{"http.send named as a with replacement", tests(`test_ssrf if {
	r := authz.fetch({"method": "GET", "url": "` + srv.URL + `"}) with authz.fetch as http.send
	r.status_code == 200
}`), "http.send", true},
		{"net.lookup_ip_addr named as a with replacement", tests("test_dns if {\n\tr := authz.fetch(\"localhost\") with authz.fetch as net.lookup_ip_addr\n\tcount(r) > 0\n}"), "net.lookup_ip_addr", true},
		{"opa.runtime called by the policy", policyFS(`decision := {"allow": count(opa.runtime().env) > 0}`), "opa.runtime", false},
		{"http.send called by the policy", policyFS(`decision := {"allow": http.send({"method": "GET", "url": "` + srv.URL + `"}).status_code == 200}`), "http.send", false},
	}
	without := WithoutBuiltins("http.send", "net.lookup_ip_addr", "opa.runtime")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			_, testErr := Test(t.Context(), tc.fsys, without)
			_, newErr := New(t.Context(), WithFS(tc.fsys), without)
			if tc.inTests {
				if newErr != nil {
					t.Fatalf("New, which leaves the tests out, refused: %v", newErr)
				}
				newErr = testErr
			}
			for _, err := range []error{testErr, newErr} {
				switch {
				case tc.refused == "" && err != nil:
					t.Fatalf("refused an ordinary policy: %v", err)
				case tc.refused != "" && (!errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.refused)):
					t.Fatalf("got %v, want ErrInvalidPolicy naming %s", err, tc.refused)
				}
			}
			if n := hits.Load(); n > 0 {
				t.Fatalf("refused, but %d requests reached %s", n, srv.URL)
			}
			if _, err := Test(t.Context(), tc.fsys); err != nil {
				t.Fatalf("with every builtin the policy does not compile, so the case proves nothing: %v", err)
			}
		})
	}
}
