package relay

import (
	"container/heap"
	"container/list"
	"net"
	"net/netip"
	"time"
)

// helloGrace is how long a connection that finished its TLS handshake may take to send its
// hello before its source gives it up first when a newcomer needs a place. A client sends its
// hello right after TLS; a flood that finishes TLS (each costing the relay a handshake) and then
// dribbles its hello goes before the clients still in their TLS handshake, which over the
// HTTP fallback takes several requests.
const helloGrace = time.Second

// ipv6SourceBits is how much of an IPv6 address names one source: a /64 is one site's (or
// one host's) network, and a host that owns a /64 could otherwise pose as 2^64 sources.
const ipv6SourceBits = 64

// admission decides which connections are in their handshake (not yet authenticated). It
// bounds them in all (limit) and from one source address (perSource), and it never turns a
// newcomer away: when a bound is reached, the newcomer takes the place of the handshake that
// has gone longest without progress (or, before it, the one that has owed its hello longest,
// past helloGrace), of its own source when that source holds perSource, else of the source
// that holds the most. A client thus keeps its place while it makes progress, however many
// slow connections share its address, and no source can crowd out another. Not safe for
// concurrent use: Server.mu guards it.
type admission struct {
	limit, perSource int
	total            int
	owing            int // attempts that finished TLS and owe their hello
	sources          map[string]*source
	bySize           sourceHeap // every source with handshakes, the one with the most first
	now              func() time.Time
}

// source is one source address's handshakes.
type source struct {
	addr  string
	queue list.List // of *attempt: the one longest without progress first
	owing list.List // of *attempt: those that finished TLS and owe their hello, the earliest first
	index int       // in admission.bySize
}

// attempt is one connection in its handshake.
type attempt struct {
	conn  net.Conn
	src   *source
	elem  *list.Element // in src.queue; nil once released or evicted
	owing *list.Element // in src.owing once secured; nil before, and once released or evicted
	// securedAt is when it finished TLS and began to owe its hello.
	securedAt time.Time
	deadline  time.Time // the handshake's deadline, set before admission
	secured   bool      // its TLS handshake is done (or it has none): it owes its hello
	// evicted is set when a newer connection took this one's place; leaving when it counts
	// in Server.leaving until its handler has refused it; leaveBy is that refusal's deadline.
	evicted, leaving bool
	leaveBy          time.Time
}

func newAdmission(limit, perSource int) *admission {
	return &admission{limit: max(limit, 1), perSource: max(perSource, 1), sources: map[string]*source{}, now: time.Now}
}

// admit registers conn from the source addr and returns its attempt, and the attempt it
// displaced (nil when both bounds had room).
func (a *admission) admit(conn net.Conn, addr string, deadline time.Time) (att, victim *attempt) {
	switch src := a.sources[addr]; {
	case src != nil && src.queue.Len() >= a.perSource:
		victim = a.evictFrom(src)
	case a.total >= a.limit:
		victim = a.evictFrom(a.bySize[0])
	}
	src := a.sources[addr]
	if src == nil {
		src = &source{addr: addr}
		a.sources[addr] = src
		heap.Push(&a.bySize, src)
	}
	att = &attempt{conn: conn, src: src, deadline: deadline}
	att.elem = src.queue.PushBack(att)
	a.total++
	heap.Fix(&a.bySize, src.index)
	return att, victim
}

// evictFrom removes, marked evicted, the attempt of src that has owed its hello longest when
// that is longer than helloGrace, else the one that has gone longest without progress.
func (a *admission) evictFrom(src *source) *attempt {
	victim := src.queue.Front().Value.(*attempt)
	if e := src.owing.Front(); e != nil && a.now().Sub(e.Value.(*attempt).securedAt) > helloGrace {
		victim = e.Value.(*attempt)
	}
	a.remove(victim)
	victim.evicted = true
	return victim
}

// progress records that att advanced a step: it goes to the back of its source's queue.
func (a *admission) progress(att *attempt) {
	if att.elem != nil {
		att.src.queue.MoveToBack(att.elem)
	}
}

// secure records that att finished its TLS handshake (or has none): a step of progress, and
// from now on it owes its hello.
func (a *admission) secure(att *attempt) {
	if att.elem == nil || att.owing != nil {
		return
	}
	a.progress(att)
	att.securedAt = a.now()
	att.owing = att.src.owing.PushBack(att)
	a.owing++
}

// release removes att, whose handshake ended; it reports whether att had been evicted.
func (a *admission) release(att *attempt) bool {
	if att.elem != nil {
		a.remove(att)
	}
	return att.evicted
}

// remove takes att out of its source, and the source out of the admission once it is empty.
func (a *admission) remove(att *attempt) {
	src := att.src
	src.queue.Remove(att.elem)
	att.elem = nil
	if att.owing != nil {
		src.owing.Remove(att.owing)
		att.owing = nil
		a.owing--
	}
	a.total--
	if src.queue.Len() == 0 {
		heap.Remove(&a.bySize, src.index)
		delete(a.sources, src.addr)
		return
	}
	heap.Fix(&a.bySize, src.index)
}

// len returns the number of connections in their handshake.
func (a *admission) len() int { return a.total }

// owingHello is the number of attempts that finished TLS and owe their hello.
func (a *admission) owingHello() int { return a.owing }

// each calls f for every attempt.
func (a *admission) each(f func(*attempt)) {
	for _, src := range a.bySize {
		for e := src.queue.Front(); e != nil; e = e.Next() {
			f(e.Value.(*attempt))
		}
	}
}

// sourceHeap orders sources by their number of handshakes, most first (container/heap).
type sourceHeap []*source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].queue.Len() > h[j].queue.Len() }
func (h sourceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *sourceHeap) Push(x any) {
	s := x.(*source)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *sourceHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}

// sourceOf names the source a connection comes from: its IPv4 address, or its IPv6 address's
// /64 network, or its whole address when that has no IP.
func sourceOf(conn net.Conn) string {
	a := conn.RemoteAddr()
	if a == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.WithZone("").Prefix(ipv6SourceBits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}
