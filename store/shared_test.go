package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testCall is a sharedCall of answerTogether's test.
type testCall struct {
	ctx  context.Context
	fail bool // its statement fails, alone or shared
	done chan error
}

func (c *testCall) callerContext() context.Context { return c.ctx }
func (c *testCall) outcome() chan<- error          { return c.done }

// TestAnswerTogether: a shared statement runs no longer than the earliest of its callers'
// deadlines (a hung database holds no caller past its own bound), and when it fails each call
// is answered alone under its own context: only the failing one fails, and one whose deadline
// has passed fails with it.
func TestAnswerTogether(t *testing.T) {
	bad := errors.New("bad value")
	// run hangs until its context ends, as on a frozen database, unless hang is false; a
	// statement with a failing call fails.
	run := func(hang bool) func(context.Context, []*testCall) error {
		return func(ctx context.Context, calls []*testCall) error {
			for _, c := range calls {
				if c.fail {
					return bad
				}
			}
			if hang {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}
	}
	call := func(ctx context.Context, fail bool) *testCall {
		return &testCall{ctx: ctx, fail: fail, done: make(chan error, 1)}
	}
	background := context.Background()
	hurried, cancel := context.WithTimeout(background, 50*time.Millisecond)
	defer cancel()
	patient, cancel := context.WithTimeout(background, 500*time.Millisecond)
	defer cancel()
	t.Run("bounded by the callers' deadlines", func(t *testing.T) {
		calls := []*testCall{call(patient, false), call(hurried, false), call(patient, false)}
		batch, cancel := context.WithTimeout(background, batchTimeout) // as the store's batches
		defer cancel()
		start := time.Now()
		// The shared statement ends at the hurried caller's deadline; each call then waits
		// alone as long as its caller lets it, no longer.
		answerTogether(batch, calls, run(true))
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("answered after %v, past every caller's deadline", waited)
		}
		for i, c := range calls {
			if err := <-c.done; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call %d = %v, want its deadline", i, err)
			}
		}
	})
	t.Run("a failing call fails alone", func(t *testing.T) {
		calls := []*testCall{call(background, false), call(background, true), call(background, false)}
		answerTogether(background, calls, run(false))
		for i, want := range []error{nil, bad, nil} {
			if err := <-calls[i].done; !errors.Is(err, want) {
				t.Errorf("call %d = %v, want %v", i, err, want)
			}
		}
	})
	t.Run("one call alone", func(t *testing.T) {
		c := call(background, true)
		answerTogether(background, []*testCall{c}, run(false))
		if err := <-c.done; !errors.Is(err, bad) {
			t.Errorf("the call = %v, want %v", err, bad)
		}
	})
}
