package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
	"github.com/portcullis/portcullis/store"
)

// queryDecisions reads one page of GET /v1/decisions with these parameters.
func (c *cm) queryDecisions(u user, q url.Values) (api.DecisionPage, error) {
	var page api.DecisionPage
	err := c.call(u, http.MethodGet, api.PathDecisions+"?"+q.Encode(), nil, &page)
	return page, err
}

// queryAll follows the cursors from the first page to the last and returns the ids in order.
func (c *cm) queryAll(t *testing.T, u user, q url.Values) []string {
	t.Helper()
	var ids []string
	for range 1000 {
		page, err := c.queryDecisions(u, q)
		if err != nil {
			t.Fatalf("GET /v1/decisions?%s: %v", q.Encode(), err)
		}
		for _, d := range page.Decisions {
			ids = append(ids, d.ID)
		}
		if page.Next == "" {
			return ids
		}
		q = cloneValues(q)
		q.Set(api.QueryCursor, page.Next)
	}
	t.Fatal("more than 1000 pages")
	return nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// Story 5 and 6: carol (auditors) queries the denials; mallory's query is refused, and that
// refusal is itself in the log.
func TestAnAuditorQueriesTheDecisionLogAndAPlainUserCannot(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	carol := w.login(t, "carol@example.com", "")
	mallory := w.login(t, "mallory@example.com", "")
	if _, _, err := w.connect(w.login(t, "alice@example.com", "123456"), "db-1", "exec"); err != nil {
		t.Fatalf("alice connects: %v", err)
	}
	_, _, err := w.connect(w.login(t, "alice@example.com", ""), "db-1", "exec")
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Fatalf("alice without MFA: %v, want a denial", err)
	}

	denials, err := w.queryDecisions(carol, url.Values{api.QueryAllow: {"false"}, api.QuerySince: {w.now.Add(-24 * time.Hour).Format(time.RFC3339)}})
	if err != nil {
		t.Fatalf("carol queries the denials: %v", err)
	}
	if len(denials.Decisions) != 1 || denials.Decisions[0].Subject != "alice@example.com" || denials.Decisions[0].Allow {
		t.Fatalf("denials = %+v, want alice's refusal only", denials.Decisions)
	}
	d := denials.Decisions[0]
	if d.Path != policy.DecisionPath || d.Revision == "" || d.Metrics[api.MetricEvalNS] <= 0 || d.Input == nil || d.Result == nil {
		t.Errorf("record lacks OPA decision-log fields: %+v", d)
	}

	_, err = w.queryDecisions(mallory, url.Values{})
	status, body := statusOf(err)
	if status != http.StatusForbidden || body.Code != access.ErrDenied || body.DecisionID == "" {
		t.Fatalf("mallory queries: %d %+v, want 403 with a decision id", status, body)
	}
	refusal, err := w.store.GetDecision(context.Background(), body.DecisionID)
	if err != nil || refusal.Allow || refusal.Subject != "mallory@example.com" || !strings.Contains(string(refusal.Input), `"action":"query_decisions"`) {
		t.Fatalf("mallory's refusal record = %+v, %v", refusal, err)
	}
	mine, err := w.queryDecisions(carol, url.Values{api.QuerySubject: {"mallory@example.com"}})
	if err != nil || len(mine.Decisions) != 1 || mine.Decisions[0].ID != body.DecisionID {
		t.Fatalf("carol finds mallory's refused query: %+v, %v", mine, err)
	}

	// A record of another user: carol reads it, mallory is refused whether it exists or not.
	var got api.Decision
	if err := w.call(carol, http.MethodGet, api.PathDecisions+"/"+d.ID, nil, &got); err != nil || got.ID != d.ID {
		t.Errorf("carol reads %s: %+v, %v", d.ID, got, err)
	}
	for _, id := range []string{d.ID, "dec_nowhere"} {
		err = w.call(mallory, http.MethodGet, api.PathDecisions+"/"+id, nil, &got)
		if status, body := statusOf(err); status != http.StatusForbidden || body.DecisionID == "" {
			t.Errorf("mallory reads record %s: %v, want 403 with the refusal's record", id, err)
		}
	}
	if status, _ := statusOf(w.call(carol, http.MethodGet, api.PathDecisions+"/dec_nowhere", nil, &got)); status != http.StatusNotFound {
		t.Errorf("carol reads a record that does not exist: %d, want 404", status)
	}
}

func TestDecisionRecordsAreMasked(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	resp, _, err := w.connect(w.login(t, "alice@example.com", "123456"), "db-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.store.GetDecision(context.Background(), resp.DecisionID)
	if err != nil {
		t.Fatal(err)
	}
	var in policy.Input
	if err := json.Unmarshal(d.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.Subject.Email != "" || in.Subject.Name != "" || in.Subject.ID != "alice@example.com" {
		t.Errorf("recorded subject %+v, want e-mail and name erased", in.Subject)
	}
	if in.Context.GuestAddr != "127.0.0.0/24" {
		t.Errorf("recorded guest address %q, want its /24", in.Context.GuestAddr)
	}
	// OPA's event fields: what the mask erased and what it replaced, apart; the bundle; the request.
	if !slices.Contains(d.Erased, "/input/subject/email") || slices.Contains(d.Erased, "/input/context/guest_addr") {
		t.Errorf("erased %v, want the e-mail and not the replaced address", d.Erased)
	}
	if !slices.Equal(d.Masked, []string{"/input/context/guest_addr"}) {
		t.Errorf("masked %v, want the replaced address alone", d.Masked)
	}
	if _, ok := d.Labels["masked"]; ok {
		t.Errorf("labels %v still carry the masked pointers", d.Labels)
	}
	if d.Bundles[policy.BundleName] != d.Revision || d.Revision == "" {
		t.Errorf("bundles %v, want %s at revision %q", d.Bundles, policy.BundleName, d.Revision)
	}
	if !strings.HasPrefix(d.RequestedBy, "127.0.0.1:") || d.ReqID == 0 {
		t.Errorf("requested_by %q, req_id %d; want the Guest's address and a request number", d.RequestedBy, d.ReqID)
	}
	var got api.Decision
	if err := w.call(w.login(t, "carol@example.com", ""), http.MethodGet, api.PathDecisions+"/"+d.ID, nil, &got); err != nil {
		t.Fatalf("read the record: %v", err)
	}
	if got.Bundles[policy.BundleName].Revision != d.Revision || !slices.Equal(got.Masked, d.Masked) ||
		!slices.Equal(got.Erased, d.Erased) || got.RequestedBy != d.RequestedBy || got.ReqID != d.ReqID {
		t.Errorf("the API shows %+v, want the record's event fields", got)
	}
}

func TestDecisionQueryFiltersAndPagination(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "q.db") },
		"postgres": func(t *testing.T) string { runsInFullInTheUnitPass(t, "the PostgreSQL half"); return pgtest.Start(t) },
	} {
		t.Run(name, func(t *testing.T) { testQueryFilters(t, dsn(t)) })
	}
}

func testQueryFilters(t *testing.T, dsn string) {
	c := startCM(t, withStore(dsn))
	ctx := context.Background()
	subjects := []string{"alice@example.com", "bob@example.com", "mallory@example.com"}
	hosts := []string{"db-1", "web-1", "kiosk-7", "db-1"}
	reasons := [][]string{{"group ops may connect"}, {"MFA is required for production"}, {"outside the contractors' window"}}
	for i := range 45 {
		err := c.store.InsertDecision(ctx, store.Decision{
			ID: fmt.Sprintf("dec-%02d", i), Time: tuesday10.Add(-time.Duration(i/3) * time.Hour), Path: policy.DecisionPath,
			Subject: subjects[i%3], HostName: hosts[i%4], Allow: i%3 == 0, Reasons: reasons[i%3],
			Input: json.RawMessage(`{}`), Result: json.RawMessage(`{}`),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dave := c.login(t, "dave@example.com", "")
	filters := map[string]struct {
		q    url.Values
		want store.DecisionFilter
	}{
		"everything":   {url.Values{}, store.DecisionFilter{}},
		"subject":      {url.Values{api.QuerySubject: {"bob@example.com"}}, store.DecisionFilter{Subject: "bob@example.com"}},
		"host":         {url.Values{api.QueryHost: {"db-1"}}, store.DecisionFilter{HostName: "db-1"}},
		"allowed":      {url.Values{api.QueryAllow: {"true"}}, store.DecisionFilter{Allow: ptr(true)}},
		"denied":       {url.Values{api.QueryAllow: {"false"}}, store.DecisionFilter{Allow: ptr(false)}},
		"since, until": {url.Values{api.QuerySince: {tuesday10.Add(-8 * time.Hour).Format(time.RFC3339)}, api.QueryUntil: {tuesday10.Add(-2 * time.Hour).Format(time.RFC3339)}}, store.DecisionFilter{Since: tuesday10.Add(-8 * time.Hour), Until: tuesday10.Add(-2 * time.Hour)}},
		"reason":       {url.Values{api.QueryReason: {"mfa IS required"}}, store.DecisionFilter{Reason: "mfa IS required"}},
		"combined":     {url.Values{api.QuerySubject: {"alice@example.com"}, api.QueryHost: {"db-1"}, api.QueryAllow: {"true"}}, store.DecisionFilter{Subject: "alice@example.com", HostName: "db-1", Allow: ptr(true)}},
	}
	for name, f := range filters {
		// Until excludes the access records the queries themselves add (they are at tuesday10).
		if f.want.Until.IsZero() {
			f.want.Until = tuesday10.Add(time.Second)
			f.q.Set(api.QueryUntil, f.want.Until.Format(time.RFC3339))
		}
		f.want.Limit = store.MaxDecisionLimit
		ref, _, err := c.store.ListDecisions(ctx, f.want)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, d := range ref {
			if strings.HasPrefix(d.ID, "dec-") {
				want = append(want, d.ID)
			}
		}
		if len(want) == 0 {
			t.Fatalf("%s: the reference selects nothing", name)
		}
		f.q.Set(api.QueryLimit, "4")
		got := c.queryAll(t, dave, f.q)
		got = slices.DeleteFunc(got, func(id string) bool { return !strings.HasPrefix(id, "dec-") })
		if !slices.Equal(got, want) {
			t.Errorf("%s, pages of 4:\n got %v\nwant %v", name, got, want)
		}
	}
	for name, q := range map[string]url.Values{
		"allow":  {api.QueryAllow: {"maybe"}},
		"since":  {api.QuerySince: {"yesterday"}},
		"limit":  {api.QueryLimit: {"0"}},
		"big":    {api.QueryLimit: {"100000"}},
		"cursor": {api.QueryCursor: {"not a cursor"}},
	} {
		if _, err := c.queryDecisions(dave, q); func() int { s, _ := statusOf(err); return s }() != http.StatusBadRequest {
			t.Errorf("bad %s: %v, want 400", name, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A broken policy dropped into the policy directory never replaces the running one: the CM
// keeps deciding with the last good policy, and GET /v1/policy/status and /metrics show why.
func TestHotReloadKeepsTheLastGoodPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"authz.rego", "authz_test.rego", "mask.rego", "mask_test.rego", "input.schema.json"} {
		b, err := os.ReadFile(filepath.Join("..", "rego", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := policy.NewManager(context.Background(), policy.ManagerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	w := startWorld(t, withPolicy(m))
	good := m.Status().Revision
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte("package portcullis.authz\n\ndecision := {\"allow\": true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reload(context.Background()); err == nil {
		t.Fatal("a policy that does not parse was accepted")
	}
	resp, _, err := w.connect(w.login(t, "alice@example.com", "123456"), "db-1", "exec")
	if err != nil {
		t.Fatalf("alice connects under the last good policy: %v", err)
	}
	_, _, err = w.connect(w.login(t, "mallory@example.com", ""), "db-1", "exec")
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Fatalf("mallory under the last good policy: %v, want 403", err)
	}
	rec, err := w.store.GetDecision(context.Background(), resp.DecisionID)
	if err != nil || rec.Revision != good {
		t.Fatalf("decision %+v, %v; want revision %s", rec, err, good)
	}
	var st policy.Status
	if err := w.call(w.login(t, "carol@example.com", ""), http.MethodGet, api.PathPolicyStatus, nil, &st); err != nil {
		t.Fatalf("policy status: %v", err)
	}
	if st.Revision != good || st.LastError == "" || st.Failures != 1 || st.LoadedAt.IsZero() {
		t.Errorf("policy status %+v, want the good revision and the failure", st)
	}
	err = w.call(w.login(t, "mallory@example.com", ""), http.MethodGet, api.PathPolicyStatus, nil, &st)
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Errorf("mallory reads the policy status: %v, want 403", err)
	}
	res, err := w.http.Get(w.url + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body := readAll(t, res)
	for _, want := range []string{"portcullis_policy_reload_failures_total 1", "portcullis_policy_last_reload_failed 1", `revision="` + good + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A mask that fails never lets an unmaskable record through: the request is refused, and the
// record keeps no input.
func TestAFailingMaskRefusesAndStoresNoInput(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"mask.rego": {Data: []byte("package system.log\n\nmask contains \"/labels/cm\"\n")}}
	for _, name := range []string{"authz.rego", "input.schema.json"} {
		b, err := fs.ReadFile(rego.Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	failing, err := policy.New(context.Background(), policy.WithFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	// The world is set up (enrollment, itself recorded) under the default policy; then the
	// failing mask is rolled out.
	src := &switchableSource{}
	src.engine.Store(defaultEngine(t))
	w := startWorld(t, withPolicy(src))
	src.engine.Store(failing)
	_, _, err = w.connect(w.login(t, "alice@example.com", "123456"), "db-1", "exec")
	status, body := statusOf(err)
	if status != http.StatusForbidden || !slices.Contains(body.Reasons, "decision-log masking failed (fail closed)") {
		t.Fatalf("connect with a failing mask: %d %+v, want a refusal", status, body)
	}
	d, err := w.store.GetDecision(context.Background(), body.DecisionID)
	if err != nil || d.Allow || string(d.Input) != "{}" {
		t.Fatalf("record %+v, %v; want a refusal without input", d, err)
	}
}

// switchableSource is a policy Source a test switches from one engine to another.
type switchableSource struct{ engine atomic.Pointer[policy.Engine] }

func (s *switchableSource) Current() *policy.Engine { return s.engine.Load() }
func (s *switchableSource) Status() policy.Status   { return s.engine.Load().Status() }

// defaultEngine compiles the default policy.
func defaultEngine(t testing.TB) *policy.Engine {
	t.Helper()
	e, err := policy.New(context.Background(), policy.WithFS(rego.Files()))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
