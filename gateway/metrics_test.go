package gateway_test

import (
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/api"
)

// Every request is timed by the route that served it: grants and refusals of POST /v1/connect
// apart, and a path no route serves as "unmatched". Every connect's steps are timed too (a
// refusal has no grant step), and the store's writes.
func TestRequestsAndConnectStepsAreTimed(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	for range 2 {
		if _, _, err := w.connect(alice, "db-1", "exec"); err != nil {
			t.Fatalf("alice connects: %v", err)
		}
	}
	if _, _, err := w.connect(w.login(t, "mallory@example.com", ""), "db-1", "exec"); err == nil {
		t.Fatal("mallory was let in")
	}
	res, err := w.http.Get(w.url + "/v1/no-such-route")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /v1/no-such-route: %s, want 404", res.Status)
	}

	const count = "portcullis_cm_request_duration_seconds_count"
	for _, tc := range []struct{ labels, want string }{
		{`{code="200",method="post",route="POST ` + api.PathConnect + `"}`, "2"},
		{`{code="403",method="post",route="POST ` + api.PathConnect + `"}`, "1"},
		{`{code="404",method="get",route="unmatched"}`, "1"},
	} {
		if got, want := metricLine(t, w.cm, count+tc.labels), count+tc.labels+" "+tc.want; got != want {
			t.Errorf("metrics show %q, want %q", got, want)
		}
	}
	// A connect takes milliseconds: every one fell within the histogram's last bound.
	le := `portcullis_cm_request_duration_seconds_bucket{code="200",method="post",route="POST ` + api.PathConnect + `",le="30"}`
	if got := metricLine(t, w.cm, le); got != le+" 2" {
		t.Errorf("metrics show %q, want %q", got, le+" 2")
	}
	for step, want := range map[string]string{"lookup": "3", "decide": "3", "grant": "2", "commit": "3"} {
		series := `portcullis_cm_connect_step_seconds_count{step="` + step + `"}`
		if got := metricLine(t, w.cm, series+" "); got != series+" "+want {
			t.Errorf("metrics show %q, want %q", got, series+" "+want)
		}
	}
	// The three records committed in group commits, each counting the writes it carried.
	if got := metricLine(t, w.cm, "portcullis_store_group_commit_writes_count "); got == "" {
		t.Error("the metrics show no group commit")
	}
	if got := metricLine(t, w.cm, `portcullis_store_write_seconds_count{work="connects"} `); got == "" {
		t.Error("the metrics show no timed write of connects")
	}
}
