package gateway

import (
	"sync"
	"time"

	"github.com/portcullis/portcullis/store"
)

// presence keeps what this replica saw of Hosts: when each was last seen, its relay
// latencies, and its long-polls here. The store receives last-seen times and latencies in
// batches (flushPresence), so every replica answers "is it online" alike within the flush
// interval, without one store write per heartbeat.
type presence struct {
	mu    sync.Mutex
	hosts map[string]*hostState
	dirty map[string]store.HostSeen
}

// maxLatencies bounds the relay latencies kept per Host.
const maxLatencies = 64

type hostState struct {
	lastSeen time.Time
	latency  map[string]int64 // the Host's latency to relays, by id, in milliseconds
	polling  int
}

func newPresence() *presence {
	return &presence{hosts: map[string]*hostState{}, dirty: map[string]store.HostSeen{}}
}

func (p *presence) state(id string) *hostState {
	st, ok := p.hosts[id]
	if !ok {
		st = &hostState{}
		p.hosts[id] = st
	}
	return st
}

// seen records a sign of life from a Host.
func (p *presence) seen(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state(id).lastSeen = at
	d := p.dirty[id]
	d.At = at
	p.dirty[id] = d
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
	d := p.dirty[id]
	d.RelayLatencies = kept
	p.dirty[id] = d
}

// latencies returns the Host's last relay measurements (read-only): this replica's, else the
// store's.
func (p *presence) latencies(h store.Host) map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.hosts[h.ID]; ok && st.latency != nil {
		return st.latency
	}
	return h.RelayLatencies
}

// online reports whether the Host h (as the store has it) is polling this replica now or was
// seen, here or by any replica, within window; and when it was last seen.
func (p *presence) online(h store.Host, now time.Time, window time.Duration) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last, polling := h.LastSeen, false
	if st, ok := p.hosts[h.ID]; ok {
		if st.lastSeen.After(last) {
			last = st.lastSeen
		}
		polling = st.polling > 0
	}
	if last.IsZero() {
		return polling, last
	}
	return polling || now.Sub(last) <= window, last
}

// polls notes a long-poll of the Host on this replica; call the returned func when it ends.
func (p *presence) polls(id string) (done func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state(id).polling++
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if st, ok := p.hosts[id]; ok {
			st.polling--
		}
	}
}

// drainDirty returns and forgets the signs of life not yet written to the store.
func (p *presence) drainDirty() map[string]store.HostSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dirty
	p.dirty = map[string]store.HostSeen{}
	return d
}

// forget drops a Host that was disabled or deleted: it is no longer online here.
func (p *presence) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.hosts, id)
	delete(p.dirty, id)
}
