package relay

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testcert"
)

// tlsPair returns both ends of a TLS connection over loopback TCP.
func tlsPair(t *testing.T) (server, client *tls.Conn) {
	t.Helper()
	serverConf, clientConf := testcert.TLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverConf)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
		}
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	cc, err := tls.Dial("tcp", ln.Addr().String(), clientConf)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = cc.Close(); _ = sc.Close() })
	return sc.(*tls.Conn), cc
}

// signalWriter collects what is written to it and signals each write.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes chan int
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.writes <- len(p)
	return len(p), nil
}

// A busy read from TLS is topped up only with what has arrived: a message exactly as long as
// the small buffer is delivered at once (nothing waits for more), and a stream of records of
// every size arrives whole.
func TestCopyAdaptiveTopsUpTLSReadsWithoutWaiting(t *testing.T) {
	src, client := tlsPair(t)
	s := &Server{}
	s.init()
	dst := &signalWriter{writes: make(chan int, 1<<10)}
	done := make(chan error, 1)
	go func() { done <- s.copyAdaptive(dst, src) }()

	for _, size := range []int{spliceSmallBuffer, spliceLargeBuffer, spliceSmallBuffer + 1} {
		if _, err := client.Write(bytes.Repeat([]byte{'x'}, size)); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < size {
			select {
			case n := <-dst.writes:
				got += n
			case <-time.After(5 * time.Second):
				t.Fatalf("a %d-byte message: %d bytes relayed, the rest waits for more", size, got)
			}
		}
	}

	go func() {
		for range dst.writes {
		}
	}()
	var sent []byte
	for i := range 200 {
		p := bytes.Repeat([]byte{byte(i)}, (i*977)%(40<<10)+1)
		sent = append(sent, p...)
		if _, err := client.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("copyAdaptive: %v", err)
	}
	dst.mu.Lock()
	defer dst.mu.Unlock()
	want := append(bytes.Repeat([]byte{'x'}, 2*spliceSmallBuffer+spliceLargeBuffer+1), sent...)
	if !bytes.Equal(dst.buf.Bytes(), want) {
		t.Fatalf("relayed %d bytes, differing from the %d sent", dst.buf.Len(), len(want))
	}
}
