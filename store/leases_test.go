package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLeaseRace: replicas racing for one lease, round after round, never both hold it.
func testLeaseRace(t *testing.T, dsn string) {
	ctx := context.Background()
	dbs := []*DB{openStore(t, dsn), openStore(t, dsn)} // two pools, as two replicas have
	const (
		holders = 8
		rounds  = 30
	)
	for round := range rounds {
		name := fmt.Sprintf("race-%d", round)
		var won atomic.Int32
		var wg sync.WaitGroup
		for h := range holders {
			wg.Go(func() {
				ok, err := dbs[h%len(dbs)].AcquireLease(ctx, name, fmt.Sprintf("cm-%d", h), time.Minute)
				if err != nil {
					t.Errorf("AcquireLease round %d holder %d: %v", round, h, err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Fatalf("round %d: %d holders hold the lease, want exactly 1", round, n)
		}
	}
}

// testLeaseLifecycle: renewal keeps the lease, expiry and release let another take it.
func testLeaseLifecycle(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const ttl = 1500 * time.Millisecond // long beside a loaded machine's stalls between two steps
	steps := []struct {
		name   string
		holder string
		sleep  time.Duration // before the step
		op     string        // "acquire" or "release"
		want   bool          // acquire's result
		holds  string        // LeaseHolder afterwards
	}{
		{"a takes the free lease", "a", 0, "acquire", true, "a"},
		{"b is refused while a holds it", "b", 0, "acquire", false, "a"},
		{"a renews", "a", ttl / 2, "acquire", true, "a"},
		{"a renews again, past the first expiry", "a", ttl / 2, "acquire", true, "a"},
		{"b is still refused", "b", ttl / 4, "acquire", false, "a"},
		{"b takes it once a's expired", "b", ttl + 100*time.Millisecond, "acquire", true, "b"},
		{"a is refused now", "a", 0, "acquire", false, "b"},
		{"a's release leaves b's lease alone", "a", 0, "release", false, "b"},
		{"b releases", "b", 0, "release", false, ""},
		{"a takes the released lease at once", "a", 0, "acquire", true, "a"},
	}
	for _, s := range steps {
		time.Sleep(s.sleep)
		switch s.op {
		case "acquire":
			got, err := db.AcquireLease(ctx, LeaseSingleton, s.holder, ttl)
			if err != nil || got != s.want {
				t.Fatalf("%s: AcquireLease = %v, %v, want %v", s.name, got, err, s.want)
			}
		case "release":
			if err := db.ReleaseLease(ctx, LeaseSingleton, s.holder); err != nil {
				t.Fatalf("%s: ReleaseLease: %v", s.name, err)
			}
		}
		if h, err := db.LeaseHolder(ctx, LeaseSingleton); err != nil || h != s.holds {
			t.Fatalf("%s: LeaseHolder = %q, %v, want %q", s.name, h, err, s.holds)
		}
	}
	bad := []struct {
		name, lease, holder string
		ttl                 time.Duration
	}{
		{"no name", "", "a", ttl},
		{"no holder", LeaseSingleton, "", ttl},
		{"no ttl", LeaseSingleton, "a", 0},
	}
	for _, b := range bad {
		if _, err := db.AcquireLease(ctx, b.lease, b.holder, b.ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", b.name, err)
		}
	}
}
