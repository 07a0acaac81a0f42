package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// A batch of denials is due once it holds revokeBatch of them, or revokeWait after its first:
// a slow policy still ends sessions as it goes. An empty batch is never due.
func TestABatchOfDenialsIsDueWhenFullOrWhenItsFirstHasWaited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		added int
		age   time.Duration
		due   bool
	}{
		{"empty", 0, time.Hour, false},
		{"one, just added", 1, 0, false},
		{"one, waited", 1, revokeWait, true},
		{"one short of full", revokeBatch - 1, 0, false},
		{"full", revokeBatch, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &revocations{pass: ctx}
			for i := range c.added {
				r.end(store.Session{ID: string(rune('a' + i%26))}, "locked: test")
			}
			if c.added > 0 {
				r.first = r.first.Add(-c.age)
			}
			if got := r.due(); got != c.due {
				t.Errorf("due = %v, want %v", got, c.due)
			}
			if r.cancel != nil {
				r.cancel()
			}
		})
	}
}
