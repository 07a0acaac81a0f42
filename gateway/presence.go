package gateway

import (
	"sync"
	"time"

	"github.com/portcullis/portcullis/store"
)

// presence keeps what this replica saw of Hosts: when each was last seen, its relay
// latencies, and its long-polls here. A Host that long-polls is alive: a long-poll held here
// counts as a sign of life for as long as it waits. The store receives last-seen times and
// latencies in batches (flushPresence), so every replica answers "is it online" alike within
// the flush interval, without one store write per heartbeat or long-poll. A Host that only
// long-polls is written again once its stored sign of life is refresh old, so that the store
// never holds one older than refresh plus a flush interval for it.
type presence struct {
	mu    sync.Mutex
	hosts map[string]*hostState
	dirty map[string]store.HostSeen
	// refresh is the age of a polling Host's last stored sign of life at which a flush writes
	// a new one.
	refresh time.Duration
}

// pollRefresh is the refresh of a replica whose flush runs every heartbeat interval: a Host
// that only long-polls has a sign of life in the store at most two and a half intervals old
// (plus the flush's own time), inside the three intervals that count as online; and the store
// takes one write per such Host every two intervals rather than every one.
func pollRefresh(heartbeat time.Duration) time.Duration { return heartbeat * 3 / 2 }

// maxLatencies bounds the relay latencies kept per Host.
const maxLatencies = 64

// maxKeptReport bounds the heartbeat body kept per Host to recognise the next one as equal.
const maxKeptReport = 512

type hostState struct {
	lastSeen time.Time
	latency  map[string]int64 // the Host's latency to relays, by id, in milliseconds
	// report is the body of the Host's last heartbeat when it was at most maxKeptReport
	// bytes: a heartbeat with the same body says nothing new but that the Host is alive.
	report  string
	polling int
	stored  time.Time // the last sign of life handed to the store
}

// newPresence returns an empty presence that rewrites a polling Host's sign of life in the
// store once the last one written is refresh old.
func newPresence(refresh time.Duration) *presence {
	return &presence{hosts: map[string]*hostState{}, dirty: map[string]store.HostSeen{}, refresh: refresh}
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
	p.seenLocked(id, p.state(id), at)
}

// seenLocked records a sign of life from the Host id whose state is st; call with p.mu held.
func (p *presence) seenLocked(id string, st *hostState, at time.Time) {
	st.lastSeen = at
	d := p.dirty[id]
	d.At = at
	p.dirty[id] = d
}

// seenAgain records a sign of life from a Host whose heartbeat's body equals the last one it
// reported; false, recording nothing, when it differs (decode it and call reported).
func (p *presence) seenAgain(id string, at time.Time, body []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.hosts[id]
	if !ok || st.report == "" || st.report != string(body) {
		return false
	}
	p.seenLocked(id, st, at)
	return true
}

// reported records a heartbeat of a Host: a sign of life, its body and the relay latencies
// decoded from it (see setLatencies).
func (p *presence) reported(id string, at time.Time, body []byte, lat map[string]int64) {
	kept := capLatencies(lat)
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(id)
	p.seenLocked(id, st, at)
	p.latenciesLocked(id, st, kept)
	st.report = ""
	if len(body) <= maxKeptReport {
		st.report = string(body)
	}
}

// setLatencies records the Host's latest relay measurements (at most maxLatencies of them);
// it keeps lat itself when it is small enough, so the caller must not change it afterwards.
func (p *presence) setLatencies(id string, lat map[string]int64) {
	kept := capLatencies(lat)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latenciesLocked(id, p.state(id), kept)
}

// capLatencies returns lat, or maxLatencies of its entries when it has more.
func capLatencies(lat map[string]int64) map[string]int64 {
	if len(lat) <= maxLatencies {
		return lat
	}
	kept := make(map[string]int64, maxLatencies)
	for k, v := range lat {
		if len(kept) == maxLatencies {
			break
		}
		kept[k] = v
	}
	return kept
}

// latenciesLocked records the Host's relay measurements lat unless there are none (the last
// ones stay); call with p.mu held.
func (p *presence) latenciesLocked(id string, st *hostState, lat map[string]int64) {
	if len(lat) == 0 {
		return
	}
	st.latency = lat
	d := p.dirty[id]
	d.RelayLatencies = lat
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

// polls notes a long-poll of the Host on this replica, begun at now: a sign of life, written
// to the store with the next batch unless the store holds a recent one already. Call the
// returned func with the time the long-poll ended: the Host was alive until then.
func (p *presence) polls(id string, now time.Time) (done func(end time.Time)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(id)
	st.polling++
	p.touch(id, st, now)
	return func(end time.Time) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if st, ok := p.hosts[id]; ok {
			st.polling--
			st.lastSeen = later(st.lastSeen, end)
		}
	}
}

// touch records a sign of life of a polling Host at now; it joins the next batch only when
// the Host's last stored one is refresh old (or there is none). Call with p.mu held.
func (p *presence) touch(id string, st *hostState, now time.Time) {
	st.lastSeen = later(st.lastSeen, now)
	if _, queued := p.dirty[id]; !queued && now.Sub(st.stored) < p.refresh {
		return
	}
	d := p.dirty[id]
	d.At = later(d.At, now)
	p.dirty[id] = d
}

// drainDirty returns and forgets the signs of life not yet written to the store, with one at
// now for every Host polling here whose last stored one is refresh old.
func (p *presence) drainDirty(now time.Time) map[string]store.HostSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, st := range p.hosts {
		if st.polling > 0 {
			p.touch(id, st, now)
		}
	}
	d := p.dirty
	p.dirty = make(map[string]store.HostSeen, len(d))
	for id, seen := range d {
		if st, ok := p.hosts[id]; ok {
			st.stored = later(st.stored, seen.At)
		}
	}
	return d
}

// requeue puts back a drained batch that the store did not take, under anything newer that
// arrived meanwhile, for the next flush.
func (p *presence) requeue(batch map[string]store.HostSeen) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, seen := range batch {
		st, ok := p.hosts[id]
		if !ok {
			continue // forgotten meanwhile: disabled or deleted
		}
		st.stored = time.Time{}
		d := p.dirty[id]
		d.At = later(d.At, seen.At)
		if d.RelayLatencies == nil {
			d.RelayLatencies = seen.RelayLatencies
		}
		p.dirty[id] = d
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// forget drops a Host that was disabled or deleted: it is no longer online here.
func (p *presence) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.hosts, id)
	delete(p.dirty, id)
}
