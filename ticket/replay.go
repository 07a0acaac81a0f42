package ticket

import (
	"container/heap"
	"fmt"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
)

// MaxReplayEntries bounds how many unexpired ticket ids a ReplayCache remembers (with
// MaxLifetime of 60s, about 4,300 tickets per second sustained).
const MaxReplayEntries = 1 << 18

// ReplayCache remembers used ticket ids until they expire, so each ticket admits once. It is
// bounded: when it holds Limit unexpired ids it refuses new ones with ErrReplayCacheFull instead
// of forgetting any (fail closed); expired ids are pruned on every use. Safe for concurrent
// use; the zero value is ready.
type ReplayCache struct {
	// Limit is the most ids remembered at once; 0 means MaxReplayEntries.
	Limit int

	mu      sync.Mutex
	expires map[string]time.Time
	order   expiryHeap
}

// Use records id as used until exp. It returns ErrReplayed if id is already remembered,
// ErrExpired if exp is not after now, and ErrReplayCacheFull when the cache is full.
func (r *ReplayCache) Use(id string, exp time.Time, now time.Time) error {
	if !exp.After(now) {
		return fmt.Errorf("ticket: %w: replay window ended at %s", access.ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	if _, used := r.expires[id]; used {
		return fmt.Errorf("ticket: %w: ticket id %q", access.ErrReplayed, truncate(id))
	}
	if len(r.expires) >= r.limit() {
		return fmt.Errorf("%w: %d unexpired ticket ids", ErrReplayCacheFull, len(r.expires))
	}
	if r.expires == nil {
		r.expires = make(map[string]time.Time)
	}
	r.expires[id] = exp
	heap.Push(&r.order, replayEntry{id: id, exp: exp})
	return nil
}

// Len returns how many ids the cache remembers now (expired ones included until the next Use).
func (r *ReplayCache) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.expires)
}

func (r *ReplayCache) limit() int {
	if r.Limit > 0 {
		return r.Limit
	}
	return MaxReplayEntries
}

// prune forgets the ids whose expiry is not after now, soonest first.
func (r *ReplayCache) prune(now time.Time) {
	for len(r.order) > 0 && !r.order[0].exp.After(now) {
		e := heap.Pop(&r.order).(replayEntry)
		delete(r.expires, e.id)
	}
}

// replayEntry is one remembered id in expiry order.
type replayEntry struct {
	id  string
	exp time.Time
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []replayEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
