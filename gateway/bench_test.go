package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

// BenchmarkConnectReachesTheHostLongPoll measures, over real HTTPS with the SQLite store and
// the default policy, the time from a Guest's POST /v1/connect to the Host's waiting long-poll
// returning the request (target: under 100 ms).
func BenchmarkConnectReachesTheHostLongPoll(b *testing.B) {
	w := startWorld(b)
	alice := w.login(b, "alice@example.com", "123456")
	host := w.hosts["db-1"]
	var total time.Duration
	for b.Loop() {
		polled := make(chan time.Time, 1)
		go func() {
			var reqs api.HostRequests
			_ = api.Call(context.Background(), host.client, http.MethodGet, w.url+api.PathHostRequests, "", nil, &reqs)
			polled <- time.Now()
		}()
		time.Sleep(5 * time.Millisecond) // let the long-poll arrive first, as a waiting Host's would
		sent := time.Now()
		if _, _, err := w.connect(alice, "db-1", "shell"); err != nil {
			b.Fatal(err)
		}
		total += (<-polled).Sub(sent)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/connect-to-host")
}
