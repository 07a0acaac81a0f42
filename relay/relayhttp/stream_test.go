package relayhttp

import (
	"bytes"
	"errors"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// A peer that never fetches what the CS writes must not hold a writer (or a reader) beyond its
// deadline or the connection's end: else a slow client pins the relay's goroutines and buffers.
func TestAStreamWhosePeerNeverFetchesHonoursDeadlinesAndClose(t *testing.T) {
	cases := []struct {
		name string
		// before runs before the call; unblock (nil: none) runs from another goroutine while
		// the call is blocked.
		before  func(s *stream)
		unblock func(s *stream)
		read    bool
		want    error
	}{
		{"write deadline", func(s *stream) { _ = s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)) }, nil, false, os.ErrDeadlineExceeded},
		{"write deadline set while blocked", nil, func(s *stream) { _ = s.SetWriteDeadline(time.Now()) }, false, os.ErrDeadlineExceeded},
		{"deadline set while blocked", nil, func(s *stream) { _ = s.SetDeadline(time.Now().Add(10 * time.Millisecond)) }, false, os.ErrDeadlineExceeded},
		{"close while blocked", nil, func(s *stream) { _ = s.Close() }, false, net.ErrClosed},
		{"failure while blocked", nil, func(s *stream) { s.fail(errReset) }, false, errReset},
		{"read deadline", func(s *stream) { _ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) }, nil, true, os.ErrDeadlineExceeded},
		{"read deadline set while blocked", nil, func(s *stream) { _ = s.SetReadDeadline(time.Now()) }, true, os.ErrDeadlineExceeded},
		{"close while reading", nil, func(s *stream) { _ = s.Close() }, true, net.ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStream(&net.TCPAddr{}, &net.TCPAddr{}, nil)
			if tc.before != nil {
				tc.before(s)
			}
			done := make(chan error, 1)
			go func() {
				if tc.read {
					_, err := s.Read(make([]byte, 16))
					done <- err
					return
				}
				_, err := s.Write(make([]byte, maxOutBuf+1)) // one byte more than the buffer holds
				done <- err
			}()
			if tc.unblock != nil {
				time.Sleep(20 * time.Millisecond) // the call is blocked (nobody fetches)
				tc.unblock(s)
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("blocked call returned %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the blocked call ignored its deadline or the end of the stream")
			}
		})
	}
}

// The outbound bytes leave as chunks that reassemble exactly what was written, none over
// MaxChunkData, and a chunk once cut never changes, whatever is written after it (chunks are
// views of the segments the writes fill).
func TestOutboundChunksAreTheWritesUnchanged(t *testing.T) {
	cases := []struct {
		name string
		// writes are the sizes written; cutEvery cuts whatever is due after every that many
		// writes (0: only at the end), as a tunnel that keeps up or falls behind would.
		writes   []int
		cutEvery int
	}{
		{"bulk records, tunnel keeping up", slices.Repeat([]int{16 << 10}, 40), 1},
		{"bulk records, tunnel behind", slices.Repeat([]int{16 << 10}, 32), 0},
		{"bulk records, tunnel cutting every third", slices.Repeat([]int{16 << 10}, 40), 3},
		{"keystrokes", slices.Repeat([]int{37}, 200), 1},
		{"keystrokes then bulk then keystrokes", append(append(slices.Repeat([]int{37}, 10), slices.Repeat([]int{16 << 10}, 20)...), slices.Repeat([]int{37}, 10)...), 2},
		{"one write of a whole buffer", []int{maxOutBuf}, 0},
		{"odd sizes", []int{1, MaxChunkData - 1, MaxChunkData + 1, 3, 70000, 5}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStream(&net.TCPAddr{}, &net.TCPAddr{}, nil)
			var written []byte
			var cut []chunk
			var copies [][]byte // what each chunk held when it was cut
			cutDue := func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				for s.canCut() {
					_, c := s.cutLocked()
					if len(c.data) > MaxChunkData {
						t.Fatalf("a chunk of %d bytes, over MaxChunkData", len(c.data))
					}
					cut, copies = append(cut, c), append(copies, bytes.Clone(c.data))
				}
			}
			for i, n := range tc.writes {
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(len(written) + j*7)
				}
				if _, err := s.Write(p); err != nil {
					t.Fatal(err)
				}
				written = append(written, p...)
				if tc.cutEvery > 0 && (i+1)%tc.cutEvery == 0 {
					cutDue()
				}
			}
			if err := s.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			cutDue()
			var got []byte
			for i, c := range cut {
				if !bytes.Equal(c.data, copies[i]) {
					t.Fatalf("chunk %d changed after it was cut", i)
				}
				got = append(got, c.data...)
			}
			if !bytes.Equal(got, written) {
				t.Fatalf("the chunks hold %d bytes that differ from the %d written", len(got), len(written))
			}
			if last := cut[len(cut)-1]; last.flags&flagFin == 0 {
				t.Fatal("the last chunk does not carry fin")
			}
		})
	}
}
