package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/store"
)

// Singleton work — recording the sessions of lost relays as ended and re-evaluating live
// sessions — writes shared state once for the whole system, so among CM replicas sharing one
// database only the holder of the store's singleton lease does it: one re-decision per
// session per change, not one per replica. Passing on orders stays with every replica (each
// passes them to the Hosts and relays polling it). A SQLite store serves one CM, which holds
// the lease trivially.
//
// The lease is timed on the database's clock (store.AcquireLease), so replicas' skewed clocks
// cannot make two of them hold it. The holder counts it as its own only until leaseTTL after it
// sent its last successful renewal, on its own monotonic clock, which ends no later than the
// database's expiry; when renewals fail it stops doing singleton work then (fail closed).
const (
	// leaseTTL is how long the singleton lease lasts without a renewal.
	leaseTTL = 6 * time.Second
	// leaseRenew is how often a replica takes or renews the lease; a dead holder's lease is
	// taken over within leaseTTL + leaseRenew.
	leaseRenew = 2 * time.Second
	// leaseReleaseTimeout bounds giving the lease up at shutdown.
	leaseReleaseTimeout = 2 * time.Second
)

// singletonLease is this replica's view of the singleton lease.
type singletonLease struct {
	st     *store.DB
	holder string
	// shared is false for a store only one CM uses (SQLite): the lease is always held.
	shared bool
	log    *slog.Logger

	mu sync.Mutex
	// until is when this replica stops counting the lease as its own (monotonic clock); zero
	// when it does not hold it.
	until time.Time
	// stopped is set when Run ends: the replica does no more singleton work.
	stopped bool
}

// newSingletonLease returns the lease view of the replica named holder.
func newSingletonLease(st *store.DB, holder string, log *slog.Logger) *singletonLease {
	return &singletonLease{st: st, holder: holder, shared: st.SharedByReplicas(), log: log}
}

// held reports whether this replica may do singleton work now.
func (l *singletonLease) held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.shared {
		return !l.stopped
	}
	return !l.stopped && time.Now().Before(l.until)
}

// renew takes or renews the lease once; it reports whether this replica just gained it.
func (l *singletonLease) renew(ctx context.Context) bool {
	if !l.shared {
		return false
	}
	sent := time.Now()
	ok, err := l.st.AcquireLease(ctx, store.LeaseSingleton, l.holder, leaseTTL)
	was := l.held()
	l.mu.Lock()
	switch {
	case err != nil:
		// Not knowing is not holding: the last renewal's deadline stands, and passes.
		if ctx.Err() == nil {
			l.log.Warn("renew the singleton lease", "err", err, "held", was)
		}
	case ok:
		l.until = sent.Add(leaseTTL)
	default:
		l.until = time.Time{}
	}
	l.mu.Unlock()
	now := l.held()
	switch {
	case now && !was:
		l.log.Info("this replica holds the singleton lease: it sweeps lost relays and re-evaluates live sessions", "lease", store.LeaseSingleton, "instance", l.holder)
	case was && !now:
		l.log.Warn("this replica no longer holds the singleton lease", "lease", store.LeaseSingleton, "instance", l.holder)
	}
	return now && !was
}

// keep renews the lease every leaseRenew until ctx ends, sending on gained whenever this
// replica gains it; then it stops counting the lease as held, without releasing it.
func (l *singletonLease) keep(ctx context.Context, gained chan<- struct{}) {
	l.mu.Lock()
	l.stopped = false
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.stopped, l.until = true, time.Time{}
		l.mu.Unlock()
	}()
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		if l.renew(ctx) {
			select {
			case gained <- struct{}{}:
			default: // one pending catch-up is enough
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// release gives the lease up, so another replica takes it at once.
func (l *singletonLease) release(ctx context.Context) error {
	l.mu.Lock()
	l.stopped, l.until = true, time.Time{}
	l.mu.Unlock()
	if !l.shared {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, leaseReleaseTimeout)
	defer cancel()
	return l.st.ReleaseLease(ctx, store.LeaseSingleton, l.holder)
}

// HoldsLease reports whether this replica holds the singleton lease and so sweeps lost relays
// and re-evaluates live sessions for the whole system.
func (s *Server) HoldsLease() bool { return s.lease.held() }

// ReleaseLease gives up the singleton lease after Run has returned, so that another replica
// takes over the singleton work at once rather than after the lease expires.
func (s *Server) ReleaseLease(ctx context.Context) error {
	if err := s.lease.release(ctx); err != nil {
		return fmt.Errorf("gateway: release the singleton lease: %w", err)
	}
	return nil
}

// defaultInstance names a replica by its host name and a random suffix, distinct per process.
func defaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "cm"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return host + "-" + hex.EncodeToString(b[:])
}

// relayWatch remembers the relays the holder of the lease has seen reporting, as the store
// shows them whichever replica they report to, so that it notices when one goes silent.
type relayWatch struct {
	mu   sync.Mutex
	seen map[string]bool
}

// observe notes the relays in all that reported within stale of now.
func (w *relayWatch) observe(all []store.Relay, now time.Time, stale time.Duration) {
	w.lostOrObserve(all, now, stale, false)
}

// lost notes the relays that reported within stale of now and returns (and forgets) those
// seen before that have not.
func (w *relayWatch) lost(all []store.Relay, now time.Time, stale time.Duration) []string {
	return w.lostOrObserve(all, now, stale, true)
}

func (w *relayWatch) lostOrObserve(all []store.Relay, now time.Time, stale time.Duration, forget bool) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	var out []string
	for _, rel := range all {
		switch {
		case now.Sub(rel.LastSeen) <= stale:
			w.seen[rel.ID] = true
		case forget && w.seen[rel.ID]:
			out = append(out, rel.ID)
			delete(w.seen, rel.ID)
		}
	}
	return out
}

// lostRelays returns the relays whose sessions the sweep records as ended: those this replica
// saw report to it and those the store showed alive, that no longer report.
func (s *Server) lostRelays(all []store.Relay, now time.Time) []string {
	out := s.relays.lost(all, now, s.cfg.RelayStale)
	for _, id := range s.relayWatch.lost(all, now, s.cfg.RelayStale) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// watchRelays is a replica's sweep while another holds the lease: it forgets the relays that
// stopped reporting to it and notes those alive in the store, ending no session.
func (s *Server) watchRelays(ctx context.Context) error {
	all, err := s.cfg.Store.ListRelays(ctx)
	if err != nil {
		return fmt.Errorf("list relays: %w", err)
	}
	now := s.cfg.Now()
	s.relays.lost(all, now, s.cfg.RelayStale)
	s.relayWatch.observe(all, now, s.cfg.RelayStale)
	return nil
}

// sweepRelays records the sessions of lost relays as ended while this replica holds the lease,
// and otherwise only watches the relays.
func (s *Server) sweepRelays(ctx context.Context) {
	if !s.lease.held() {
		if err := s.watchRelays(ctx); err != nil {
			s.cfg.Logger.Warn("watch relays", "err", err)
		}
		return
	}
	if err := s.endSessionsOfLostRelays(ctx); err != nil {
		s.cfg.Logger.Warn("end sessions of lost relays", "err", err)
	}
}

// refreshLive replaces the cache of live sessions with all of the store's, page by page.
func (s *Server) refreshLive(ctx context.Context) error {
	live := map[string]store.Session{}
	if err := s.cfg.Store.EachLiveSession(ctx, store.LiveFilter{}, func(sess store.Session) error {
		live[sess.ID] = sess
		return nil
	}); err != nil {
		return fmt.Errorf("list live sessions: %w", err)
	}
	s.live.replaceMap(live)
	return nil
}
