package relayhttp

import (
	"fmt"
	"io"
	"net"
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
	}
}

func closeAll(cs ...net.Conn) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// BenchmarkTunnelThroughputSquid is BenchmarkTunnelThroughput through squid (CONNECT denied).
func BenchmarkTunnelThroughputSquid(b *testing.B) {
	f := newFixture(b)
	hc := viaProxy(squidtest.Start(b).URL)
	const size = 16 << 20
	payload := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		guest, host := f.pairOver(b, hc, fmt.Sprintf("ses-bench-squid-%d", i))
		go func() {
			_, _ = guest.Write(payload)
			_ = guest.(interface{ CloseWrite() error }).CloseWrite()
		}()
		n, err := io.Copy(io.Discard, host)
		if err != nil || n != size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		closeAll(guest, host)
	}
}
