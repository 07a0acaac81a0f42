package relayhttp

import "sync/atomic"

// outSegment is a pooled buffer that outbound bytes queue in and that chunks are cut from as
// views. Several parties may read it at once: the stream's queue (the spare room takes the next
// writes), each chunk cut from it and kept until acknowledged, and each request handler still
// writing such a chunk (a retransmission may be served while the acknowledgement arrives). Each
// holds a reference; the last to let go puts the buffer back. A buffer whose references are
// never all released (a stream that ended with chunks unacknowledged) is simply collected.
type outSegment struct {
	buf  *[]byte
	pool *framePool
	refs atomic.Int32
}

// newOutSegment takes a full-size buffer from pool for outbound bytes, with one reference (the
// queue's); nil when there is no pool.
func newOutSegment(pool *framePool) (*outSegment, []byte) {
	if pool == nil {
		return nil, make([]byte, 0, MaxChunkData)
	}
	b, buf := pool.get(maxChunk)
	s := &outSegment{buf: buf, pool: pool}
	s.refs.Store(1)
	return s, b[:0:MaxChunkData]
}

// hold adds a reference; s may be nil (an unpooled segment).
func (s *outSegment) hold() {
	if s != nil {
		s.refs.Add(1)
	}
}

// release drops a reference, putting the buffer back when it was the last; s may be nil.
func (s *outSegment) release() {
	if s == nil {
		return
	}
	switch n := s.refs.Add(-1); {
	case n == 0:
		s.pool.put(s.buf)
		s.buf = nil
	case n < 0:
		panic("relayhttp: outbound segment released more often than held")
	}
}

// queued is outbound bytes not yet cut: a view of a segment whose spare capacity takes the
// next writes, and the segment it belongs to (nil when it is not pooled).
type queued struct {
	data []byte
	seg  *outSegment
}

// releaseRun drops the references of a run of outbound chunks that is done with.
func releaseRun(run []chunk) {
	for _, c := range run {
		c.seg.release()
	}
}
