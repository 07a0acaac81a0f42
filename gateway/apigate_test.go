package gateway_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// apiEndpoint is one call of the admin and auditor API, on a target that exists and on one
// that does not.
type apiEndpoint struct {
	method string
	// path names an existing target; missing the same call on a target that does not exist
	// ("" when the call names no target).
	path, missing string
	body          any
	// op is the operation its records name; target the target they name.
	op, target string
	// decidedBy is the path of the policy's decision records.
	decidedBy string
}

// apiEndpoints lists every admin and auditor endpoint of the world's CM.
func apiEndpoints(t *testing.T, w *world) []apiEndpoint {
	t.Helper()
	alice, dave := w.login(t, "alice@example.com", "123456"), w.login(t, "dave@example.com", "")
	conn, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatalf("alice connects: %v", err)
	}
	var lock api.Lock
	if err := w.call(dave, http.MethodPost, api.PathLocks, api.LockRequest{User: "nobody@example.com", Reason: "a test"}, &lock); err != nil {
		t.Fatalf("dave locks: %v", err)
	}
	adm := func(op string) string { return "portcullis/api/" + op }
	return []apiEndpoint{
		{http.MethodPost, api.PathEnrollmentTokens, "", api.EnrollmentTokenRequest{Tenant: "acme"}, "enrollment_tokens.create", "", adm("enrollment_tokens.create")},
		{http.MethodGet, api.PathHosts, "", nil, "hosts.list", "", adm("hosts.list")},
		{http.MethodPost, api.PathHosts + "/web-1/disable", api.PathHosts + "/nowhere-9/disable", struct{}{}, "hosts.disable", "web-1", adm("hosts.disable")},
		{http.MethodPost, api.PathHosts + "/web-1/enable", api.PathHosts + "/nowhere-9/enable", struct{}{}, "hosts.enable", "web-1", adm("hosts.enable")},
		{http.MethodDelete, api.PathHosts + "/web-1", api.PathHosts + "/nowhere-9", nil, "hosts.delete", "web-1", adm("hosts.delete")},
		{http.MethodGet, api.PathRelays, "", nil, "relays.list", "", adm("relays.list")},
		{http.MethodGet, api.PathSessions, "", nil, "sessions.list", "", adm("sessions.list")},
		{http.MethodGet, api.PathSessions + "/" + conn.SessionID, api.PathSessions + "/ses_nowhere", nil, "sessions.list", conn.SessionID, adm("sessions.list")},
		{http.MethodPost, api.PathReevaluate, "", struct{}{}, "sessions.reevaluate", "", adm("sessions.reevaluate")},
		{http.MethodGet, api.PathLocks, "", nil, "locks.list", "", adm("locks.list")},
		{http.MethodPost, api.PathLocks, "", api.LockRequest{User: "bob@example.com", Reason: "a test"}, "locks.create", "user:bob@example.com", adm("locks.create")},
		{http.MethodDelete, api.PathLocks + "/" + lock.ID, api.PathLocks + "/lk_nowhere", nil, "locks.remove", lock.ID, adm("locks.remove")},
		{http.MethodGet, api.PathDecisions, "", nil, "decisions.query", "", policy.DecisionPath},
		{http.MethodGet, api.PathDecisions + "/" + conn.DecisionID, api.PathDecisions + "/dec_nowhere", nil, "decisions.read", conn.DecisionID, policy.DecisionPath},
		{http.MethodGet, api.PathPolicyStatus, "", nil, "policy.status", "", policy.DecisionPath},
	}
}

// targetOf is the last path segment naming the target of path ("web-1" of /v1/hosts/web-1/disable).
func targetOf(e apiEndpoint, path string) string {
	if e.target == "" || strings.HasPrefix(e.target, "user:") {
		return e.target
	}
	rest := strings.TrimSuffix(strings.TrimSuffix(path, "/disable"), "/enable")
	return rest[strings.LastIndex(rest, "/")+1:]
}

// recordCount counts every decision record.
func recordCount(t *testing.T, st *store.DB) int {
	t.Helper()
	ds, _, err := st.ListDecisions(context.Background(), store.DecisionFilter{Limit: store.MaxDecisionLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// refusal is an answer's status and body, or 200 and nothing for a 2xx.
func refusal(err error) (int, api.Error) {
	if err == nil {
		return http.StatusOK, api.Error{}
	}
	return statusOf(err)
}

func TestEveryAPICallAuthenticatesFirstAndEveryRefusalIsRecorded(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	mallory, dave := w.login(t, "mallory@example.com", ""), w.login(t, "dave@example.com", "")
	noOne := user{}
	tokenOnly := user{email: mallory.email, token: mallory.token} // no client certificate
	for _, e := range apiEndpoints(t, w) {
		paths := []string{e.path}
		if e.missing != "" {
			paths = append(paths, e.missing)
		}
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			// Not signed in: 401 before anything is looked up, the same whatever the target, and
			// nothing recorded.
			for _, who := range []user{noOne, tokenOnly} {
				before := recordCount(t, w.store)
				var bodies []api.Error
				for _, p := range paths {
					status, body := refusal(w.call(who, e.method, p, e.body, nil))
					if status != http.StatusUnauthorized {
						t.Fatalf("%s unauthenticated: %d %+v, want 401", p, status, body)
					}
					bodies = append(bodies, body)
				}
				if len(bodies) == 2 && !reflect.DeepEqual(bodies[0], bodies[1]) {
					t.Errorf("401 differs between an existing and a missing target: %+v / %+v", bodies[0], bodies[1])
				}
				if n := recordCount(t, w.store); n != before {
					t.Errorf("an unauthenticated call added %d records", n-before)
				}
			}

			// mallory: 403 whether the target exists or not, and a record names what was asked.
			var bodies []api.Error
			for _, p := range paths {
				status, body := refusal(w.call(mallory, e.method, p, e.body, nil))
				if status != http.StatusForbidden || body.DecisionID == "" {
					t.Fatalf("mallory %s: %d %+v, want 403 with a decision id", p, status, body)
				}
				d, err := w.store.GetDecision(context.Background(), body.DecisionID)
				if err != nil || d.Allow || d.Subject != mallory.email || d.Path != e.decidedBy ||
					d.Labels["operation"] != e.op || d.Labels["target"] != targetOf(e, p) {
					t.Errorf("mallory's refusal of %s: record %+v (%v), want it at %s naming %s on %q", p, d, err, e.decidedBy, e.op, targetOf(e, p))
				}
				body.DecisionID = ""
				bodies = append(bodies, body)
			}
			if len(bodies) == 2 && !reflect.DeepEqual(bodies[0], bodies[1]) {
				t.Errorf("403 differs between an existing and a missing target: %+v / %+v", bodies[0], bodies[1])
			}

			// An authorized caller learns that the target does not exist, and the decision is recorded.
			if e.missing != "" {
				status, body := refusal(w.call(dave, e.method, e.missing, e.body, nil))
				if status != http.StatusNotFound || body.DecisionID == "" {
					t.Errorf("dave %s: %d %+v, want 404 with the decision id", e.missing, status, body)
				}
			}

			// A query parameter the endpoint does not take: 400, recorded, naming those it takes.
			for _, who := range []user{dave, mallory} {
				p := e.path + "?bogus=1"
				status, body := refusal(w.call(who, e.method, p, e.body, nil))
				if status != http.StatusBadRequest || !strings.Contains(body.Message, `unknown query parameter "bogus"`) || !strings.Contains(body.Message, "takes") {
					t.Fatalf("%s %s: %d %+v, want 400 naming the parameter", who.email, p, status, body)
				}
				d, err := w.store.GetDecision(context.Background(), body.DecisionID)
				if err != nil || d.Allow || d.Subject != who.email || d.Path != "portcullis/api/"+e.op ||
					d.Labels["operation"] != e.op || d.Labels["query"] != "bogus=1" || d.Labels["refusal"] != string(access.ErrBadRequest) {
					t.Errorf("refusal of %s: record %+v (%v), want the CM's refusal of %s with its query", p, d, err, e.op)
				}
			}
		})
	}
}

func TestBadRequestsAreRefusedAndRecordedAndAnAuditorsQueryWorks(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	carol, mallory, dave := w.login(t, "carol@example.com", ""), w.login(t, "mallory@example.com", ""), w.login(t, "dave@example.com", "")
	tests := []struct {
		name  string
		as    user
		path  string
		query string
		want  int
		says  string
		body  any // for a POST
	}{
		{"a limit that is no number", carol, api.PathDecisions, "limit=abc", http.StatusBadRequest, "limit must be 1 to 1000", nil},
		{"a limit that is no number, before the policy refuses", mallory, api.PathDecisions, "limit=abc", http.StatusBadRequest, "limit must be 1 to 1000", nil},
		{"a filter the log does not take", carol, api.PathDecisions, "user=bob%40example.com", http.StatusBadRequest, "takes only subject, host, allow, since, until, reason, limit, cursor", nil},
		{"a filter given twice", carol, api.PathDecisions, "subject=a&subject=b", http.StatusBadRequest, "given 2 times", nil},
		{"a cursor no page gave", carol, api.PathDecisions, "cursor=not-a-cursor", http.StatusBadRequest, "cursor must be the next of a previous page", nil},
		{"every bad filter at once", carol, api.PathDecisions, "allow=maybe&since=yesterday", http.StatusBadRequest, "allow must be true or false; since must be an RFC 3339 time", nil},
		{"a malformed query", carol, api.PathDecisions, "subject=%zz", http.StatusBadRequest, "malformed query", nil},
		{"sessions: live that is no boolean", carol, api.PathSessions, "live=perhaps", http.StatusBadRequest, "live must be true or false", nil},
		{"sessions: a filter they do not take", carol, api.PathSessions, "subject=bob", http.StatusBadRequest, "takes only user, host, relay, live, decision, limit", nil},
		{"locks: all that is no boolean", carol, api.PathLocks, "all=yes", http.StatusBadRequest, "all must be true or false", nil},
		{"hosts take no filter", carol, api.PathHosts, "tenant=acme", http.StatusBadRequest, "takes only limit, cursor", nil},
		{"relays take no parameters", carol, api.PathRelays, "region=eu", http.StatusBadRequest, "takes no query parameters", nil},
		{"carol's denials of the last day", carol, api.PathDecisions, url.Values{api.QueryAllow: {"false"}, api.QuerySince: {w.now.Add(-24 * time.Hour).Format(time.RFC3339)}}.Encode(), http.StatusOK, "", nil},
		{"carol's live sessions", carol, api.PathSessions, "live=true&limit=5", http.StatusOK, "", nil},
		{"carol's locks, all of them", carol, api.PathLocks, "all=true", http.StatusOK, "", nil},
		{"a lock on nothing", dave, api.PathLocks, "", http.StatusBadRequest, "exactly one of user, host or session", api.LockRequest{Reason: "why"}},
		{"a lock body with a field locks do not have", dave, api.PathLocks, "", http.StatusBadRequest, "malformed request", map[string]any{"user": "bob@example.com", "reason": "why", "admin": true}},
		{"a token of an unknown kind", dave, api.PathEnrollmentTokens, "", http.StatusBadRequest, "kind must be host or relay", api.EnrollmentTokenRequest{Kind: "printer"}},
		{"a relay token for no tenant, before the policy refuses", mallory, api.PathEnrollmentTokens, "", http.StatusBadRequest, "needs the tenant", api.EnrollmentTokenRequest{Kind: "relay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := decisionIDs(t, w.store, tt.as.email)
			method, path := http.MethodGet, tt.path+"?"+tt.query
			if tt.body != nil {
				method, path = http.MethodPost, tt.path
			}
			status, body := refusal(w.call(tt.as, method, path, tt.body, nil))
			if status != tt.want || !strings.Contains(body.Message, tt.says) {
				t.Fatalf("got %d %+v, want %d saying %q", status, body, tt.want, tt.says)
			}
			var added []store.Decision
			for id, d := range decisionIDs(t, w.store, tt.as.email) {
				if _, seen := before[id]; !seen {
					added = append(added, d)
				}
			}
			if len(added) != 1 || added[0].Allow != (tt.want == http.StatusOK) || (tt.body == nil) != (added[0].Labels["query"] != "") {
				t.Fatalf("new records %+v, want one that records the query", added)
			}
			if tt.want != http.StatusOK && (added[0].ID != body.DecisionID || !strings.HasPrefix(added[0].Path, "portcullis/api/")) {
				t.Errorf("refusal %+v, record %+v: want the CM's refusal under portcullis/api/", body, added[0])
			}
		})
	}
}
