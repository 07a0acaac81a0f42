package relayhttp

import (
	"errors"
	"net"
	"os"
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
			s := newStream(&net.TCPAddr{}, &net.TCPAddr{})
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
