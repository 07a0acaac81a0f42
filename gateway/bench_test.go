package gateway_test

import (
	"context"
	"net/http"
	"sync/atomic"
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

// BenchmarkHeartbeat measures mTLS heartbeats (with relay latencies, as the Host agent sends
// them) over kept-alive HTTPS connections from several Hosts at once; run it with
// -cpuprofile to see where the CM spends a heartbeat.
func BenchmarkHeartbeat(b *testing.B) {
	w := startWorld(b)
	hosts := []hostAgent{w.hosts["db-1"], w.hosts["web-1"]}
	body := api.Heartbeat{RelayLatencies: map[string]int64{"cs-eu-1": 12}}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		h := hosts[int(next.Add(1))%len(hosts)]
		for pb.Next() {
			var resp api.HeartbeatResponse
			if err := api.Call(context.Background(), h.client, http.MethodPost, w.url+api.PathHeartbeat, "", body, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConnect measures allowed connects over real HTTPS with the SQLite store, the default
// policy and the CM's background work running (the transparency log's sequencer among it),
// while the Hosts drain their requests as their agents do: on kept-alive connections, and on a
// new connection (a full mTLS handshake) per connect, as from a Guest CLI process. Run it with
// -cpuprofile: the CM's share of the profile per connect is what a connect costs the CM (the
// rest is this process playing the Guests and Hosts).
func BenchmarkConnect(b *testing.B) {
	w := startWorld(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }()
	alice := w.login(b, "alice@example.com", "123456")
	names := []string{"db-1", "web-1"}
	for _, name := range names {
		go drainHost(ctx, w, w.hosts[name])
	}
	fresh := alice
	tr := alice.client.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	fresh.client = &http.Client{Transport: tr}
	for _, guest := range []struct {
		name string
		u    user
	}{{"kept-alive", alice}, {"new-connection", fresh}} {
		b.Run(guest.name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := w.connect(guest.u, names[int(next.Add(1))%len(names)], "exec"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// drainHost collects h's connection requests until ctx ends, as its agent's long-poll does.
func drainHost(ctx context.Context, w *world, h hostAgent) {
	for ctx.Err() == nil {
		var reqs api.HostRequests
		_ = api.Call(ctx, h.client, http.MethodGet, w.url+api.PathHostRequests, "", nil, &reqs)
	}
}
