package relayhttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/internal/squidtest"
)

// BenchmarkTunnelThroughput measures one session's bytes per second over the HTTP transport
// (direct, no proxy), guest to host.
func BenchmarkTunnelThroughput(b *testing.B) {
	f := newFixture(b)
	const size = 4 << 20
	payload := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		guest, host := f.pairOver(b, NewHTTPClient(), fmt.Sprintf("ses-bench-%d", i))
		go func() {
			_, _ = guest.Write(payload)
			_ = guest.(interface{ CloseWrite() error }).CloseWrite()
		}()
		n, err := io.Copy(io.Discard, host)
		if err != nil || n != size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		closeAll(guest, host)
		f.endedWith(b, size)
	}
}

// endedWith takes the session's report (the relay blocks on one not taken) and checks that it
// counted size bytes from guest to host.
func (f *fixture) endedWith(b *testing.B, size int64) {
	b.Helper()
	if r := f.report(b); r.BytesGuestToHost != size {
		b.Fatalf("the relay counted %d bytes guest to host, want %d", r.BytesGuestToHost, size)
	}
}

func closeAll(cs ...net.Conn) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// BenchmarkTunnelThroughputProxy is BenchmarkTunnelThroughput through squid and through
// tinyproxy (CONNECT denied, info logging), with the requests each MiB costs (req/MB: both
// halves' requests, the ticket handshakes included, per MiB moved).
func BenchmarkTunnelThroughputProxy(b *testing.B) {
	proxies := []struct {
		name  string
		start func(b *testing.B) *squidtest.Proxy
	}{
		{"squid", func(b *testing.B) *squidtest.Proxy { return squidtest.Start(b) }},
		{"tinyproxy", func(b *testing.B) *squidtest.Proxy { return squidtest.StartTinyproxy(b, "") }},
	}
	for _, p := range proxies {
		b.Run(p.name, func(b *testing.B) {
			f := newFixture(b)
			hc := viaProxy(p.start(b).URL)
			counted := &countingTransport{next: hc.Transport}
			hc.Transport = counted
			const size = 16 << 20
			payload := make([]byte, size)
			b.SetBytes(size)
			b.ResetTimer()
			for i := range b.N {
				guest, host := f.pairOver(b, hc, fmt.Sprintf("ses-bench-%s-%d", p.name, i))
				go func() {
					_, _ = guest.Write(payload)
					_ = guest.(interface{ CloseWrite() error }).CloseWrite()
				}()
				n, err := io.Copy(io.Discard, host)
				if err != nil || n != size {
					b.Fatalf("read %d bytes, %v", n, err)
				}
				closeAll(guest, host)
				f.endedWith(b, size)
			}
			b.ReportMetric(float64(counted.n.Load())/float64(b.N*size>>20), "req/MB")
		})
	}
}

// countingTransport counts the requests that pass through it (both halves of a session, the
// ticket handshakes and the transfer).
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}
