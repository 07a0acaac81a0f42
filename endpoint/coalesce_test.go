package endpoint

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/relay"
)

// recordingConn is a connection that records every write it is given.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	err    error
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordingConn) CloseWrite() error { return nil }

func (r *recordingConn) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []int
	for _, w := range r.writes {
		s = append(s, len(w))
	}
	return s
}

func TestCoalescerSendsAPacketSplitByTheSSHBufferAsOneWrite(t *testing.T) {
	tests := []struct {
		name   string
		writes []int
		want   []int // the writes the connection sees, before any delay passes
	}{
		{"a small packet passes at once", []int{100}, []int{100}},
		{"a long packet's two writes become one", []int{sshBufferSize, 28660}, []int{sshBufferSize + 28660}},
		{"packet after packet", []int{sshBufferSize, 28660, 52, sshBufferSize, 100}, []int{sshBufferSize + 28660, 52, sshBufferSize + 100}},
		{"a write one byte short of the buffer passes", []int{sshBufferSize - 1}, []int{sshBufferSize - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recordingConn{}
			g := graceful(rc).(*gracefulConn)
			// Only the next write releases a held one here, however slowly this test runs:
			// the delay has a test of its own.
			g.out.delay = time.Hour
			var sent []byte
			for i, n := range tt.writes {
				p := bytes.Repeat([]byte{byte(i + 1)}, n)
				sent = append(sent, p...)
				if m, err := g.Write(p); m != n || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
				}
			}
			if got := rc.sizes(); !slices.Equal(got, tt.want) {
				t.Fatalf("the connection saw writes of %v, want %v", got, tt.want)
			}
			if !bytes.Equal(bytes.Join(rc.writes, nil), sent) {
				t.Fatal("the bytes sent differ from those written")
			}
		})
	}
}

func TestCoalescerSendsAHeldWriteAfterTheDelayOrBeforeAHalfClose(t *testing.T) {
	// Held: with a delay no test outlasts, only the half-close sends it.
	rc := &recordingConn{}
	g := graceful(rc).(*gracefulConn)
	g.out.delay = time.Hour
	if _, err := g.Write(make([]byte, sshBufferSize)); err != nil {
		t.Fatal(err)
	}
	if got := rc.sizes(); len(got) != 0 {
		t.Fatalf("a write of exactly the SSH buffer was sent at once: %v", got)
	}
	if err := g.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := rc.sizes(); !slices.Equal(got, []int{sshBufferSize}) {
		t.Fatalf("CloseWrite left the held write unsent: %v", got)
	}

	// Sent once heldWriteDelay has passed, with no further write.
	rc = &recordingConn{}
	g = graceful(rc).(*gracefulConn)
	if _, err := g.Write(make([]byte, sshBufferSize)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rc.sizes()) == 0 && time.Now().Before(deadline) {
		time.Sleep(heldWriteDelay)
	}
	if got := rc.sizes(); !slices.Equal(got, []int{sshBufferSize}) {
		t.Fatalf("after the delay the connection saw %v, want one write of %d", got, sshBufferSize)
	}
}

func TestCoalescerReportsAFailedDelayedSendOnTheNextWrite(t *testing.T) {
	broken := errors.New("broken pipe")
	rc := &recordingConn{err: broken}
	g := graceful(rc).(*gracefulConn)
	if _, err := g.Write(make([]byte, sshBufferSize)); err != nil {
		t.Fatalf("the held write failed before it was sent: %v", err)
	}
	if err := g.CloseWrite(); !errors.Is(err, broken) {
		t.Fatalf("CloseWrite = %v, want the failed send's error", err)
	}
	if _, err := g.Write([]byte("more")); !errors.Is(err, broken) {
		t.Fatalf("Write after a failed send = %v, want its error", err)
	}
}

func TestAGatherConnSendsTheRecordsOfOneWriteTogether(t *testing.T) {
	rc := &recordingConn{}
	c := relay.NewGatherConn(rc)
	if _, err := c.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	c.Gather()
	for _, p := range []string{"record 1", "record 2"} {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := rc.sizes(); !slices.Equal(got, []int{6}) {
		t.Fatalf("while corked the connection saw writes of %v, want only the one before", got)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := rc.sizes(); !slices.Equal(got, []int{6, 16, 5}) {
		t.Fatalf("the connection saw writes of %v, want [6 16 5]", got)
	}
	if got := string(bytes.Join(rc.writes, nil)); got != "beforerecord 1record 2after" {
		t.Fatalf("sent %q", got)
	}
}
