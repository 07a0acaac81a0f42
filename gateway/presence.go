package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/portcullis/portcullis/api"
)

// maxPendingRequests bounds the connection requests queued for one Host that is not polling.
const maxPendingRequests = 64

// presence keeps Host liveness and queued connection requests in memory; the store receives
// last-seen times in batches.
type presence struct {
	mu    sync.Mutex
	hosts map[string]*hostState
	dirty map[string]time.Time
}

// maxLatencies bounds the relay latencies kept per Host.
const maxLatencies = 64

type hostState struct {
	lastSeen time.Time
	latency  map[string]int64 // the Host's latency to relays, by id, in milliseconds
	polling  int
	pending  []api.HostRequest
	wake     chan struct{} // closed and replaced when a request is queued
}

func newPresence() *presence {
	return &presence{hosts: map[string]*hostState{}, dirty: map[string]time.Time{}}
}

func (p *presence) state(id string) *hostState {
	st, ok := p.hosts[id]
	if !ok {
		st = &hostState{wake: make(chan struct{})}
		p.hosts[id] = st
	}
	return st
}

// seen records a sign of life from a Host.
func (p *presence) seen(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state(id).lastSeen = at
	p.dirty[id] = at
}

// setLatencies records the Host's latest relay measurements (at most maxLatencies of them).
func (p *presence) setLatencies(id string, lat map[string]int64) {
	if len(lat) == 0 {
		return
	}
	kept := make(map[string]int64, min(len(lat), maxLatencies))
	for k, v := range lat {
		if len(kept) == maxLatencies {
			break
		}
		kept[k] = v
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state(id).latency = kept
}

// latencies returns the Host's last relay measurements (read-only).
func (p *presence) latencies(id string) map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.hosts[id]; ok {
		return st.latency
	}
	return nil
}

// known reports whether the Host has been seen by this CM.
func (p *presence) known(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.hosts[id]
	return ok
}

// online reports whether the Host is polling now or was seen within window.
func (p *presence) online(id string, now time.Time, window time.Duration) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.hosts[id]
	if !ok {
		return false, time.Time{}
	}
	return st.polling > 0 || now.Sub(st.lastSeen) <= window, st.lastSeen
}

// deliver queues a request for the Host and wakes its long-poll. It reports false when the
// Host's queue is full.
func (p *presence) deliver(id string, req api.HostRequest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(id)
	if len(st.pending) >= maxPendingRequests {
		return false
	}
	st.pending = append(st.pending, req)
	close(st.wake)
	st.wake = make(chan struct{})
	return true
}

// wait returns the Host's queued requests, waiting up to timeout for one to arrive.
func (p *presence) wait(ctx context.Context, id string, timeout time.Duration) []api.HostRequest {
	p.mu.Lock()
	st := p.state(id)
	if reqs := st.take(); len(reqs) > 0 {
		p.mu.Unlock()
		return reqs
	}
	st.polling++
	wake := st.wake
	p.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st.polling--
	return st.take()
}

func (st *hostState) take() []api.HostRequest {
	reqs := st.pending
	st.pending = nil
	return reqs
}

// drainDirty returns and forgets the last-seen times not yet written to the store.
func (p *presence) drainDirty() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dirty
	p.dirty = map[string]time.Time{}
	return d
}

// forget drops a Host that was disabled or deleted: its waiting long-polls return at once
// (and are refused when they check the Host again), and it is no longer online here.
func (p *presence) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.hosts[id]; ok {
		close(st.wake)
		delete(p.hosts, id)
	}
	delete(p.dirty, id)
}
