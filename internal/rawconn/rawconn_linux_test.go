package rawconn

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, as they come (not wrapped).
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// wrapped is Wrap(c) as a *Conn; the test fails where Wrap leaves c as it is.
func wrapped(t *testing.T, c net.Conn) *Conn {
	t.Helper()
	rc, ok := Wrap(c).(*Conn)
	if !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn on %s", c, Wrap(c), runtime.GOOS)
	}
	return rc
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWrapLeavesOtherConnectionsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := Wrap(a); got != a {
		t.Errorf("Wrap(net.Pipe end) = %T, want the connection itself", got)
	}
	c, _ := tcpPair(t)
	w := Wrap(c)
	if w == net.Conn(c) {
		t.Fatal("Wrap(*net.TCPConn) returned it unwrapped")
	}
	if Wrap(w) != w {
		t.Error("Wrap of a wrapped connection wrapped it again")
	}
	if w.(*Conn).Unwrap() != c {
		t.Error("Unwrap is not the TCP connection")
	}
}

func TestReadWriteCarryTheStream(t *testing.T) {
	for _, size := range []int{1, 4 << 10, 8 << 20} { // 8 MiB: writes wait for room many times
		c, s := tcpPair(t)
		w, r := wrapped(t, c), wrapped(t, s)
		want := randomBytes(t, size)
		errc := make(chan error, 1)
		go func() {
			n, err := w.Write(want)
			if err == nil && n != len(want) {
				err = io.ErrShortWrite
			}
			if err == nil {
				err = w.CloseWrite()
			}
			errc <- err
		}()
		got, err := io.ReadAll(r) // reads until io.EOF
		if err != nil {
			t.Fatalf("%d bytes: ReadAll: %v", size, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("%d bytes: Write: %v", size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: read %d bytes that differ from what was written", size, len(got))
		}
	}
}

func TestReadObeysItsDeadline(t *testing.T) {
	c, _ := tcpPair(t)
	w := wrapped(t, c)
	if err := w.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, err := w.Read(make([]byte, 10))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %d, %v; want 0, os.ErrDeadlineExceeded", n, err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "read" {
		t.Errorf("Read's error %v is not a *net.OpError of a read", err)
	}
}

func TestWriteObeysItsDeadline(t *testing.T) {
	c, _ := tcpPair(t) // the peer never reads: the socket fills up
	w := wrapped(t, c)
	if err := w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	var total int
	var err error
	for total < 256<<20 && err == nil { // the socket's buffers fill long before 256 MiB
		var n int
		n, err = w.Write(chunk)
		total += n
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || total == 0 {
		t.Fatalf("writes to a peer that never reads = %d bytes, %v; want some, then os.ErrDeadlineExceeded", total, err)
	}
}

func TestCloseEndsAWaitingRead(t *testing.T) {
	c, _ := tcpPair(t)
	w := wrapped(t, c)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // the read waits in the poller
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed connection = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting Read")
	}
}

func TestWriteToAClosedPeerFails(t *testing.T) {
	c, s := tcpPair(t)
	w := wrapped(t, c)
	if err := s.SetLinger(0); err != nil { // the peer resets the connection
		t.Fatal(err)
	}
	_ = s.Close()
	var err error
	for range 100 { // the reset arrives after a write or two
		if _, err = w.Write(make([]byte, 64<<10)); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}

// splicePairs returns a source the test writes into (in) whose far end is src, and a
// destination dst whose far end the test reads from (out); src and dst are wrapped.
func splicePairs(t *testing.T) (in *net.TCPConn, src, dst *Conn, out *net.TCPConn) {
	t.Helper()
	in, s := tcpPair(t)
	d, out := tcpPair(t)
	return in, wrapped(t, s), wrapped(t, d), out
}

// sendAll writes p to c and ends c's stream, for a test that reads it at the other end.
func sendAll(c *net.TCPConn, p []byte) {
	_, _ = c.Write(p)
	_ = c.CloseWrite()
}

func TestSpliceFromMovesTheStreamToItsEnd(t *testing.T) {
	in, src, dst, out := splicePairs(t)
	want := randomBytes(t, 8<<20)
	go sendAll(in, want)
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := dst.SpliceFrom(src, 1<<40)
		_ = dst.CloseWrite()
		done <- result{n, err}
	}()
	got, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.n != int64(len(want)) {
		t.Fatalf("SpliceFrom = %d, %v; want %d, nil at the end of the stream", r.n, r.err, len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("spliced %d bytes that differ from the %d written", len(got), len(want))
	}
}

func TestSpliceFromStopsAtMax(t *testing.T) {
	in, src, dst, out := splicePairs(t)
	want := randomBytes(t, 1<<20)
	go func() { _, _ = in.Write(want) }()
	const max = 100 << 10
	n, err := dst.SpliceFrom(src, max)
	if err != nil || n != max {
		t.Fatalf("SpliceFrom(max %d) = %d, %v", max, n, err)
	}
	got := make([]byte, max)
	if _, err := io.ReadFull(out, got); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, len(want)-max)
	if _, err := io.ReadFull(src, rest); err != nil { // what was not moved is still src's to read
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, rest...), want) {
		t.Fatal("the moved part and the rest do not make up the stream")
	}
}

func TestSpliceFromObeysTheSourceDeadline(t *testing.T) {
	_, src, dst, _ := splicePairs(t)
	if err := src.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, err := dst.SpliceFrom(src, 1<<20)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("SpliceFrom from a quiet source past its deadline = %d, %v; want 0, os.ErrDeadlineExceeded", n, err)
	}
}

func TestSpliceFromFailsOnAClosedDestination(t *testing.T) {
	in, src, dst, _ := splicePairs(t)
	go func() { _, _ = in.Write(make([]byte, 1<<20)) }()
	_ = dst.Close()
	if n, err := dst.SpliceFrom(src, 1<<20); err == nil {
		t.Fatalf("SpliceFrom into a closed connection = %d, nil", n)
	}
}

func TestListenerAndDialContextWrap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listener{Listener: inner}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := DialContext(&net.Dialer{})(t.Context(), "tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	for _, conn := range []net.Conn{c, s} {
		if _, ok := conn.(*Conn); !ok {
			t.Errorf("%T is not wrapped", conn)
		}
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := DialContext(&net.Dialer{})(t.Context(), "tcp", "127.0.0.1:1"); err == nil {
		t.Error("a dial to a closed port succeeded")
	}
}

// TestCopyFromIsSpliceFromThroughMemory checks the fallback SpliceFrom takes when it cannot
// make a pipe: the same bytes, the same stop at max, the same nil at the end of the stream.
func TestCopyFromIsSpliceFromThroughMemory(t *testing.T) {
	in, src, dst, out := splicePairs(t)
	want := randomBytes(t, 3<<20)
	go sendAll(in, want)
	n, err := dst.copyFrom(src, 1<<20)
	if err != nil || n != 1<<20 {
		t.Fatalf("copyFrom(max 1 MiB) = %d, %v", n, err)
	}
	rest, err := dst.copyFrom(src, 1<<40)
	if err != nil || rest != int64(len(want))-n {
		t.Fatalf("copyFrom to the end = %d, %v; want %d, nil", rest, err, int64(len(want))-n)
	}
	_ = dst.CloseWrite()
	got, err := io.ReadAll(out)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("copied %d bytes (%v) that differ from the %d written", len(got), err, len(want))
	}
}
