package relayhttp

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Buffer bounds of one tunnel direction, in bytes.
const (
	// maxReady bounds inbound bytes in order but not yet read; a sender waits beyond it.
	maxReady = 4 * MaxChunkData
	// maxOutBuf bounds outbound bytes written but not yet cut into chunks; Write waits beyond it.
	maxOutBuf = 4 * MaxChunkData
	// minSegment is the smallest outbound segment allocated (see segmentSize).
	minSegment = 512
	// preAuthBytes bounds the inbound bytes a tunnel holds before the relay authenticated its
	// half: enough for the largest hello, so that a half-open tunnel holds one small buffer,
	// not a window of chunks. Chunks beyond it, or out of order, are refused (errWindow) until then.
	preAuthBytes = 16 << 10
	// preAuthPolls bounds the long-polls a tunnel holds before the relay authenticated its half:
	// as many as the client makes. A poll beyond it is answered at once with nothing (204).
	preAuthPolls = Receivers
)

// Stream errors.
var (
	// errWindow means a chunk's sequence number lies beyond the receive window.
	errWindow = errors.New("relayhttp: chunk beyond the window")
	// errGone means a chunk was asked for that was forgotten or lies past the end of the stream.
	errGone = errors.New("relayhttp: chunk gone")
	// errReset means the tunnel failed; the stream is unusable.
	errReset = errors.New("relayhttp: tunnel reset")
)

// chunk is one numbered piece of a direction of the stream.
type chunk struct {
	flags byte
	data  []byte
	// buf is the pooled buffer holding an inbound chunk's data (framePool), nil for the rest.
	buf *[]byte
	// seg is the pooled segment an outbound chunk's data is a view of (nil: not pooled): the
	// chunk holds a reference to it.
	seg *outSegment
}

// stream is one end of a tunnel: a net.Conn whose inbound chunks arrive (possibly out of
// order) through deliver and whose outbound bytes leave as chunks through cutNext or chunkAt.
// Both ends of the protocol use it; only the pumps around it differ.
type stream struct {
	local, remote net.Addr
	transport     string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of state

	inNext  uint64           // next inbound sequence number to append to ready
	inEarly map[uint64]chunk // inbound chunks that arrived ahead of inNext
	ready   []chunk          // inbound chunks in order, not yet read: data is their unread part
	frames  *framePool       // where read inbound chunks' buffers go back to (nil: nowhere)
	readyN  int              // bytes in ready
	inFin   bool             // the peer finished sending

	outSegs []queued         // outbound bytes not yet cut, in segments of at most MaxChunkData
	outN    int              // bytes in outSegs
	outFin  bool             // CloseWrite or Close: no more outbound bytes
	finCut  bool             // the chunk carrying fin has been cut
	outNext uint64           // next outbound sequence number to cut
	cut     map[uint64]chunk // outbound chunks kept until acknowledged (CS side)
	acked   uint64           // every outbound chunk below this arrived

	closed  bool      // Close was called
	failure error     // the tunnel failed
	ended   time.Time // when it was closed or failed
	authed  bool      // the relay authenticated the half: the full window applies
	// progressed, when set, is told (without mu held) that a half-open tunnel's bytes arrived.
	progressed func()
	held       int // long-polls waiting in chunkAt
	readDL     time.Time
	writeDL    time.Time
	touched    time.Time // last network activity
}

func newStream(local, remote net.Addr, frames *framePool) *stream {
	return &stream{
		local: local, remote: remote, transport: "http", frames: frames,
		changed: make(chan struct{}), inEarly: map[uint64]chunk{}, cut: map[uint64]chunk{}, touched: time.Now(),
	}
}

// notify wakes every waiter; call with mu held.
func (s *stream) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait releases mu until the state changes, dl passes (os.ErrDeadlineExceeded) or done closes
// (context.Canceled); call with mu held.
func (s *stream) wait(dl time.Time, done <-chan struct{}) error {
	ch := s.changed
	s.mu.Unlock()
	defer s.mu.Lock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-done:
		return context.Canceled
	}
}

// Read reads inbound stream bytes in order; io.EOF after the peer's fin.
func (s *stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.readyN > 0:
			n := s.readReady(p)
			s.notify()
			return n, nil
		case s.inFin:
			return 0, io.EOF
		case s.closed:
			return 0, net.ErrClosed
		case s.failure != nil:
			return 0, s.failure
		}
		if err := s.wait(s.readDL, nil); err != nil {
			return 0, err
		}
	}
}

// readReady copies inbound bytes into p from the chunks in order; call with mu held.
func (s *stream) readReady(p []byte) int {
	n := 0
	for n < len(p) && len(s.ready) > 0 {
		c := &s.ready[0]
		k := copy(p[n:], c.data)
		n += k
		if c.data = c.data[k:]; len(c.data) == 0 {
			s.frames.put(c.buf) // every byte is copied out: nothing refers to it any more
			*c = chunk{}
			s.ready = s.ready[1:]
		}
	}
	if s.readyN -= n; s.readyN == 0 {
		s.ready = nil
	}
	return n
}

// Write queues p for sending, waiting while the outbound buffer is full.
func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for len(p) > 0 {
		switch {
		case s.closed:
			return n, net.ErrClosed
		case s.failure != nil:
			return n, s.failure
		case s.outFin:
			return n, errors.New("relayhttp: write after CloseWrite")
		}
		if room := maxOutBuf - s.outN; room > 0 {
			k := min(room, len(p))
			s.queueOut(p[:k])
			p, n = p[k:], n+k
			s.notify()
			continue
		}
		if err := s.wait(s.writeDL, nil); err != nil {
			return n, err
		}
	}
	return n, nil
}

// queueOut appends p to the outbound segments; call with mu held. Bytes are copied once: a
// full segment is never moved, and the chunks cut from a segment are views of it.
func (s *stream) queueOut(p []byte) {
	for len(p) > 0 {
		if n := len(s.outSegs); n == 0 || len(s.outSegs[n-1].data) == cap(s.outSegs[n-1].data) {
			s.outSegs = append(s.outSegs, s.newSegment(s.outN+len(p)))
		}
		last := &s.outSegs[len(s.outSegs)-1].data
		k := min(cap(*last)-len(*last), len(p))
		*last = append(*last, p[:k]...)
		s.outN += k
		p = p[k:]
	}
}

// newSegment is an outbound segment of segmentSize(need): a full one comes from the stream's
// pool (bulk transfers fill them), a smaller one is allocated.
func (s *stream) newSegment(need int) queued {
	if size := segmentSize(need); size < MaxChunkData {
		return queued{data: make([]byte, 0, size)}
	}
	seg, b := newOutSegment(s.frames)
	return queued{data: b, seg: seg}
}

// segmentSize is the capacity of a new outbound segment when need bytes wait to be cut: four
// times that, within [minSegment, MaxChunkData]. A bulk writer ahead of the tunnel fills whole
// chunks; a writer the tunnel keeps up with shares a segment among a few writes; a typist's
// segments, and what an idle tunnel keeps of its last one, stay small.
func segmentSize(need int) int {
	return min(MaxChunkData, max(4*need, minSegment))
}

// CloseWrite finishes the outbound direction: the peer reads io.EOF after the bytes queued.
func (s *stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outFin = true
	s.notify()
	return nil
}

// Close finishes sending (queued bytes still leave, then fin) and stops reading.
func (s *stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed, s.outFin = true, true
	s.markEnded()
	s.notify()
	return nil
}

// markEnded notes when the stream ended (closed or failed); call with mu held.
func (s *stream) markEnded() {
	if s.ended.IsZero() {
		s.ended = time.Now()
	}
}

// Authenticated lifts the inbound budget of a half-open tunnel (preAuthBytes, in order only)
// to the full window; the relay calls it once the half's ticket verified.
func (s *stream) Authenticated() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authed = true
	s.notify()
}

// fail marks the tunnel broken: reads and writes return err.
func (s *stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == nil {
		s.failure = err
	}
	s.markEnded()
	s.notify()
}

func (s *stream) LocalAddr() net.Addr  { return s.local }
func (s *stream) RemoteAddr() net.Addr { return s.remote }

// Transport names the transport ("http") for the relay's session records.
func (s *stream) Transport() string { return s.transport }

func (s *stream) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readDL, s.writeDL = t, t
	s.notify()
	return nil
}

func (s *stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readDL = t
	s.notify()
	return nil
}

func (s *stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDL = t
	s.notify()
	return nil
}
