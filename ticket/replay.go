package ticket

import (
	"container/heap"
	"crypto/sha256"
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
// use; the zero value is ready and remembers in memory only: OpenReplayCache returns one that
// also keeps its ids on disk, so that they outlive the process.
type ReplayCache struct {
	// Limit is the most ids remembered at once; 0 means MaxReplayEntries.
	Limit int
	// KnownSince, when set, is when the cache began to remember: a ticket that became valid
	// before then (allowing Verifier.Skew) may have been used unseen, so Verify refuses it as
	// access.ErrReplayed. A CS that keeps no replay log sets its start time here, so that a
	// restart cannot make a used ticket admit again.
	KnownSince time.Time

	log     *replayLog // nil: memory only
	mu      sync.Mutex
	expires map[replayKey]time.Time
	order   expiryHeap
}

// replayKey is what the cache keeps of a ticket id: the first 16 bytes of its SHA-256, a fixed
// size in memory and on disk whatever the id.
type replayKey [16]byte

func keyOf(id string) replayKey {
	sum := sha256.Sum256([]byte(id))
	return replayKey(sum[:16])
}

// Use records id as used until exp. It returns ErrReplayed if id is already remembered,
// ErrExpired if exp is not after now, and ErrReplayCacheFull when the cache is full. A cache
// with a replay log returns only once the id is on disk, and refuses with access.ErrUnavailable
// (fail closed) when it cannot write it there.
func (r *ReplayCache) Use(id string, exp time.Time, now time.Time) error {
	if !exp.After(now) {
		return fmt.Errorf("ticket: %w: replay window ended at %s", access.ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	k := keyOf(id)
	r.mu.Lock()
	r.prune(now)
	if _, used := r.expires[k]; used {
		r.mu.Unlock()
		return fmt.Errorf("ticket: %w: ticket id %q", access.ErrReplayed, truncate(id))
	}
	if len(r.expires) >= r.limit() {
		n := len(r.expires)
		r.mu.Unlock()
		return fmt.Errorf("%w: %d unexpired ticket ids", ErrReplayCacheFull, n)
	}
	// Remembered before it is written: a concurrent use of the same id is refused meanwhile.
	r.remember(k, exp)
	r.mu.Unlock()
	if r.log == nil {
		return nil
	}
	if err := r.log.append(k, exp, now); err != nil {
		r.mu.Lock()
		delete(r.expires, k) // not accepted: the ticket may be presented again once the disk is back
		r.mu.Unlock()
		return fmt.Errorf("ticket: %w: cannot record the ticket id as used: %w", access.ErrUnavailable, err)
	}
	return nil
}

// Len returns how many ids the cache remembers now (expired ones included until the next Use).
func (r *ReplayCache) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.expires)
}

// Close closes the replay log, if any; Use refuses with access.ErrUnavailable afterwards.
func (r *ReplayCache) Close() error {
	if r.log == nil {
		return nil
	}
	return r.log.close()
}

// admitsUnseen reports whether a ticket valid from start may have been used before the cache
// began to remember, allowing skew.
func (r *ReplayCache) admitsUnseen(start time.Time, skew time.Duration) bool {
	return !r.KnownSince.IsZero() && !start.After(r.KnownSince.Add(skew))
}

func (r *ReplayCache) limit() int {
	if r.Limit > 0 {
		return r.Limit
	}
	return MaxReplayEntries
}

// remember adds k until exp; call with mu held.
func (r *ReplayCache) remember(k replayKey, exp time.Time) {
	if r.expires == nil {
		r.expires = make(map[replayKey]time.Time)
	}
	r.expires[k] = exp
	heap.Push(&r.order, replayEntry{key: k, exp: exp})
}

// prune forgets the ids whose expiry is not after now, soonest first.
func (r *ReplayCache) prune(now time.Time) {
	for len(r.order) > 0 && !r.order[0].exp.After(now) {
		e := heap.Pop(&r.order).(replayEntry)
		if exp, ok := r.expires[e.key]; ok && !exp.After(now) {
			delete(r.expires, e.key)
		}
	}
}

// replayEntry is one remembered id in expiry order.
type replayEntry struct {
	key replayKey
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
