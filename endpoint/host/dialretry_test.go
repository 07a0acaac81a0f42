package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

func TestDialRelayRetriesOnlyASourceBusyRefusal(t *testing.T) {
	busy := fmt.Errorf("relay cs-1 over tcp: %w", access.ErrSourceBusy)
	refused := fmt.Errorf("relay cs-1 over tcp: %w", access.ErrReplayed)
	tests := []struct {
		name      string
		failures  []error // the dials' failures, in order; a dial past them succeeds
		wantDials int
		wantErr   error
	}{
		{name: "first dial pairs", wantDials: 1},
		{name: "busy once, then pairs", failures: []error{busy}, wantDials: 2},
		{name: "busy three times, then pairs", failures: []error{busy, busy, busy}, wantDials: 4},
		{name: "busy every time", failures: []error{busy, busy, busy, busy, busy}, wantDials: relayDialTries, wantErr: access.ErrSourceBusy},
		{name: "a refused ticket is not dialled again", failures: []error{refused}, wantDials: 1, wantErr: access.ErrReplayed},
		{name: "busy, then refused", failures: []error{busy, refused}, wantDials: 2, wantErr: access.ErrReplayed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, _ := net.Pipe()
			t.Cleanup(func() { _ = stream.Close() })
			dials := 0
			var pauses []time.Duration
			last := time.Now()
			conn, transport, err := dialRelay(t.Context(), func(context.Context) (net.Conn, string, error) {
				pauses = append(pauses, time.Since(last))
				dials++
				if dials <= len(tt.failures) {
					last = time.Now()
					return nil, "tcp", tt.failures[dials-1]
				}
				return stream, "tcp", nil
			})
			if dials != tt.wantDials {
				t.Errorf("dialled %d times, want %d", dials, tt.wantDials)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || conn != nil {
					t.Fatalf("dialRelay = %v, %v; want no connection and %v", conn, err, tt.wantErr)
				}
				return
			}
			if err != nil || conn != stream || transport != "tcp" {
				t.Fatalf("dialRelay = %v, %q, %v; want the stream over tcp", conn, transport, err)
			}
			for i, p := range pauses[1:] { // a retry waits, and each wait is longer than the first
				if least := time.Duration(float64(relayRetryPause) * (1 - jitterFraction)); p < least {
					t.Errorf("pause before dial %d was %v, want at least %v", i+2, p, least)
				}
			}
		})
	}
}

func TestDialRelayStopsWhenTheSessionEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	dials := 0
	_, _, err := dialRelay(ctx, func(context.Context) (net.Conn, string, error) {
		dials++
		cancel() // the agent stops while the relay is busy
		return nil, "tcp", access.ErrSourceBusy
	})
	if !errors.Is(err, context.Canceled) || dials != 1 {
		t.Fatalf("dialRelay after cancel = %v after %d dials; want context.Canceled after 1", err, dials)
	}
}
