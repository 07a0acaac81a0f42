package relayhttp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestRetryRepeatsOnlyWhatTheRelayDidNotAnswer(t *testing.T) {
	refused := errors.New("refused")
	tests := []struct {
		name string
		// answers are the tries' results in turn: done, or an error; "" means no answer.
		answers  []string
		stopAt   int // the tunnel stops after this many tries (0: never)
		want     error
		tries    int
		minPause time.Duration // at least the pauses between the tries
	}{
		{"done at once", []string{"done"}, 0, nil, 1, 0},
		{"no answer twice, then done", []string{"", "", "done"}, 0, nil, 3, minRetryBackoff + 2*minRetryBackoff},
		{"a refusal ends at once", []string{"refused", "done"}, 0, refused, 1, 0},
		{"the tunnel stops while the relay does not answer", []string{"", "", "", "done"}, 2, net.ErrClosed, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clientConn{}
			c.ctx, c.cancel = context.WithCancel(t.Context())
			defer c.cancel()
			c.stop = c.ctx.Done()
			tries := 0
			start := time.Now()
			err := c.retry(func() (bool, error) {
				a := tt.answers[tries]
				tries++
				if tries == tt.stopAt {
					c.cancel()
				}
				switch a {
				case "done":
					return true, nil
				case "refused":
					return false, refused
				}
				return false, nil
			})
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("retry = %v, want %v", err, tt.want)
			}
			if tries != tt.tries {
				t.Fatalf("%d tries, want %d", tries, tt.tries)
			}
			if d := time.Since(start); d < tt.minPause {
				t.Fatalf("retried within %v, want pauses of at least %v", d, tt.minPause)
			}
		})
	}
}
