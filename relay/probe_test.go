package relay

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/access"
)

// TestLatencyProbesAreNotRefusals: a TCP connect closed before its first byte (how Guests and
// Hosts time relays) counts as a probe; a connection that sends garbage is still a bad_hello.
func TestLatencyProbesAreNotRefusals(t *testing.T) {
	metrics, withM := withMetrics(t)
	f := newFixture(t, withM)
	const probes = 3
	for range probes {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	garbage, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = garbage.Close()
	f.waitFor(t, "probes and the bad hello to be handled", func(Stats) bool {
		return testutil.ToFloat64(metrics.probes) == probes &&
			testutil.ToFloat64(metrics.refusals.WithLabelValues(string(access.ErrBadHello))) == 1
	})
}
