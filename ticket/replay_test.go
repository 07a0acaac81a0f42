package ticket

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

func TestReplayCacheUse(t *testing.T) {
	var r ReplayCache // the zero value is ready
	exp := testNow.Add(time.Minute)
	steps := []struct {
		name string
		id   string
		exp  time.Time
		now  time.Time
		err  error
	}{
		{"first use", "a", exp, testNow, nil},
		{"second use", "a", exp, testNow.Add(time.Second), access.ErrReplayed},
		{"other id", "b", exp, testNow, nil},
		{"already expired", "c", testNow, testNow, access.ErrExpired},
		{"after expiry the id is forgotten", "a", exp.Add(time.Minute), exp, nil},
	}
	for _, s := range steps {
		if err := r.Use(s.id, s.exp, s.now); !errors.Is(err, s.err) || (s.err == nil) != (err == nil) {
			t.Fatalf("%s: Use(%q) = %v, want %v", s.name, s.id, err, s.err)
		}
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (b pruned at its expiry, a remembered again)", r.Len())
	}
}

func TestReplayCacheFullFailsClosed(t *testing.T) {
	r := ReplayCache{Limit: 3}
	for i := range 3 {
		if err := r.Use(fmt.Sprint("id", i), testNow.Add(time.Duration(i+1)*time.Second), testNow); err != nil {
			t.Fatalf("Use %d: %v", i, err)
		}
	}
	// Full of unexpired ids: refuse the newcomer, and still remember every old id.
	if err := r.Use("new", testNow.Add(time.Minute), testNow); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("Use on a full cache = %v, want ErrReplayCacheFull", err)
	}
	if access.CodeOf(ErrReplayCacheFull) != access.ErrOverloaded {
		t.Fatalf("access.CodeOf(ErrReplayCacheFull) = %q", access.CodeOf(ErrReplayCacheFull))
	}
	if err := r.Use("id2", testNow.Add(time.Minute), testNow); !errors.Is(err, access.ErrReplayed) {
		t.Fatalf("old id on a full cache = %v, want access.ErrReplayed", err)
	}
	// Once the first id expires it is pruned and there is room again.
	later := testNow.Add(time.Second)
	if err := r.Use("new", later.Add(time.Minute), later); err != nil {
		t.Fatalf("Use after an expiry: %v", err)
	}
	if err := r.Use("id0", later.Add(time.Minute), later); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("Use = %v, want ErrReplayCacheFull (id1, id2, new are unexpired)", err)
	}
}

func TestReplayCacheDefaultLimit(t *testing.T) {
	var r ReplayCache
	exp := testNow.Add(time.Minute)
	for i := range MaxReplayEntries {
		if err := r.Use(fmt.Sprint(i), exp, testNow); err != nil {
			t.Fatalf("Use %d: %v", i, err)
		}
	}
	if err := r.Use("one more", exp, testNow); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("Use beyond MaxReplayEntries = %v, want ErrReplayCacheFull", err)
	}
	if err := r.Use("one more", exp.Add(time.Minute), exp); err != nil {
		t.Fatalf("Use after every entry expired: %v", err)
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d after pruning, want 1", r.Len())
	}
}

func TestReplayCacheConcurrentSingleUse(t *testing.T) {
	var r ReplayCache
	const workers = 16
	var wg sync.WaitGroup
	results := make(chan error, workers)
	for range workers {
		wg.Go(func() { results <- r.Use("same", testNow.Add(time.Minute), testNow) })
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, access.ErrReplayed):
			t.Fatalf("Use: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent uses of one id succeeded, want exactly 1", ok)
	}
}
