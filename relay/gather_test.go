package relay

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
)

// writeCounter counts the writes that reach a TCP connection.
type writeCounter struct {
	net.Conn
	writes *atomic.Int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func TestAGatheringLegSendsTheRecordsOfOneWriteInOneSystemCall(t *testing.T) {
	server, client := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var writes atomic.Int64
	counted := &countingListener{Listener: ln, writes: &writes}
	tlsLn := tls.NewListener(GatheringListener(counted), server)
	payload := bytes.Repeat([]byte("portcullis"), spliceLargeBuffer/10)
	got := make(chan []byte, 1)
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), client)
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(io.LimitReader(c, int64(3*len(payload))))
		got <- b
	}()
	conn, err := tlsLn.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*tls.Conn).Handshake(); err != nil {
		t.Fatal(err)
	}
	w := gatheredWriterOf(conn)
	if w.gather == nil {
		t.Fatal("a TLS leg over a gathering listener cannot gather")
	}
	cases := []struct {
		name string
		p    []byte
		want int64
	}{
		{"a write of four records", payload, 1},
		{"a write of one record", payload[:MaxRecordPlaintext], 1},
		{"a short write", payload[:100], 1},
	}
	for _, tc := range cases {
		before := writes.Load()
		if n, err := w.Write(tc.p); err != nil || n != len(tc.p) {
			t.Fatalf("%s: wrote %d, %v", tc.name, n, err)
		}
		if got := writes.Load() - before; got != tc.want {
			t.Errorf("%s: %d system calls, want %d", tc.name, got, tc.want)
		}
	}
	_ = conn.Close() // the peer reads to the end
	if b := <-got; !bytes.Equal(b, slices.Concat(payload, payload[:MaxRecordPlaintext], payload[:100])) {
		t.Fatalf("the peer read %d bytes, not what was written", len(b))
	}
}

// countingListener counts the writes of the connections it accepts.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return writeCounter{Conn: c, writes: l.writes}, nil
}
