package gateway

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// Ending sessions without the store. A lock is the administrator's emergency brake, so it must
// work while the database does not: the CM then ends at once the matching live sessions it
// knows (from its cache of live sessions), keeps the lock in force in its own memory (connects
// refuse on it), answers 202 with the lock marked pending, and records the lock and the
// decision that allowed it as soon as the store answers again. A pending lock lives only in
// this replica's memory until then: if the replica stops first, it is lost (the response says
// so); other replicas learn of it from the store once it is recorded.
const (
	// emergencyStoreTimeout bounds each store call of a lock, so that a store that hangs (a
	// frozen database) does not hold the emergency brake.
	emergencyStoreTimeout = 2 * time.Second
	// maxPendingWrites bounds the locks and decision records waiting for the store.
	maxPendingWrites = 1000
)

// liveCache remembers the live sessions this CM knows: those it granted, and all live ones as
// of its last re-evaluation pass. It is a cache: the store is the truth.
type liveCache struct {
	mu   sync.Mutex
	byID map[string]store.Session
}

// newLiveCache returns an empty cache.
func newLiveCache() *liveCache { return &liveCache{byID: map[string]store.Session{}} }

// add notes a live session.
func (c *liveCache) add(sess store.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[sess.ID] = sess
}

// remove forgets a session that ended.
func (c *liveCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}

// replaceMap makes the cache byID, the store's live sessions by id; the cache keeps the map.
func (c *liveCache) replaceMap(byID map[string]store.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID = byID
}

// lockedBy returns the known live sessions that the lock stops.
func (c *liveCache) lockedBy(l store.Lock) []store.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []store.Session
	for _, sess := range c.byID {
		if lockStops(l, sess) {
			out = append(out, sess)
		}
	}
	return out
}

// lockStops reports whether lock l stops session sess.
func lockStops(l store.Lock, sess store.Session) bool {
	switch l.Kind {
	case store.LockUser:
		return sess.Subject == l.Target
	case store.LockHost:
		return sess.HostName == l.Target
	case store.LockSession:
		return sess.ID == l.Target
	}
	return false
}

// pendingWrites holds what the store must still record: decisions and locks made while it was
// down, in the order they were made.
type pendingWrites struct {
	decisions fifo[store.Decision]
	locks     fifo[store.Lock]
}

// newPendingWrites returns an empty queue.
func newPendingWrites() *pendingWrites { return &pendingWrites{} }

// addDecision queues a decision record; false when the queue is full.
func (p *pendingWrites) addDecision(d store.Decision) bool { return p.decisions.push(d) }

// addLock queues a lock; false when the queue is full.
func (p *pendingWrites) addLock(l store.Lock) bool { return p.locks.push(l) }

// lockReasons returns the reasons of the pending locks on a user or a host.
func (p *pendingWrites) lockReasons(subject, hostName string) []string {
	var reasons []string
	for _, l := range p.locks.all() {
		if l.Kind == store.LockUser && l.Target == subject || l.Kind == store.LockHost && l.Target == hostName {
			reasons = append(reasons, api.ReasonPrefixLocked+l.Reason)
		}
	}
	return reasons
}

// fifo is a first-in first-out queue of at most maxPendingWrites items, safe for concurrent use.
type fifo[T any] struct {
	mu    sync.Mutex
	items []T
}

// push appends v; false when the queue is full.
func (q *fifo[T]) push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= maxPendingWrites {
		return false
	}
	q.items = append(q.items, v)
	return true
}

// all returns a copy of the queued items, oldest first.
func (q *fifo[T]) all() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.items)
}

// drain writes the queued items oldest first and drops each once written (or found already
// written: store.ErrConflict); it stops at the first other error, keeping the rest.
func (q *fifo[T]) drain(write func(T) error) error {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			return nil
		}
		v := q.items[0]
		q.mu.Unlock()
		if err := write(v); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		q.mu.Lock()
		q.items = q.items[1:]
		q.mu.Unlock()
	}
}

// flushPending records the pending decisions, then the pending locks, in order; it stops at the
// first write the store refuses and leaves the rest for the next call. A recorded lock then
// ends, in the store too, every live session it stops.
func (s *Server) flushPending(ctx context.Context) error {
	// Each write is bounded, so that a store that still hangs does not hold up the Run loop
	// (which also passes on orders to end sessions).
	bounded := func(write func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, emergencyStoreTimeout)
		defer cancel()
		return write(ctx)
	}
	if err := s.pending.decisions.drain(func(d store.Decision) error {
		return bounded(func(ctx context.Context) error { return s.cfg.Store.InsertDecision(ctx, d) })
	}); err != nil {
		return err
	}
	return s.pending.locks.drain(func(l store.Lock) error {
		err := bounded(func(ctx context.Context) error { return s.cfg.Store.CreateLock(ctx, l) })
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		s.cfg.Logger.Info("pending lock recorded", "lock_id", l.ID, "kind", l.Kind, "target", l.Target)
		if ended, err := s.endSessionsLockedBy(ctx, l); err != nil {
			s.cfg.Logger.Error("end sessions of a pending lock; the next re-evaluation ends the rest", "lock_id", l.ID, "ended", len(ended), "err", err)
		}
		return nil
	})
}

// lockWithoutStore is the emergency brake: the store did not take lock l, so the CM ends the
// matching live sessions it knows at once, keeps l in force in memory and records it when the
// store is back (after the decision that allowed it, which authorizeAPI queued).
func (s *Server) lockWithoutStore(w http.ResponseWriter, claims identity.Claims, l store.Lock, cause error) {
	s.cfg.Logger.Error("create lock: store unavailable; ending known sessions now, recording later", "lock_id", l.ID, "err", cause)
	if !s.pending.addLock(l) {
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable and too many locks wait for it"})
		return
	}
	s.locksMade.Add(1) // after the lock is pending, before the live sessions are swept
	view := lockView(l, s.cfg.Now())
	view.Pending = true
	var ended []string
	for _, sess := range s.live.lockedBy(l) {
		s.orderEndHere(sess, api.ReasonPrefixLocked+l.Reason)
		s.live.remove(sess.ID)
		ended = append(ended, sess.ID)
	}
	view.EndedCount = len(ended)
	view.EndedSessions, view.EndedSessionsTruncated = api.ListedSessions(ended)
	s.cfg.Logger.Warn("lock in force before it is recorded", "lock_id", l.ID, "kind", l.Kind, "target", l.Target, "by", claims.Subject, "ended", len(ended))
	writeJSON(w, http.StatusAccepted, view)
}
