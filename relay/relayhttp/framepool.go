package relayhttp

import "sync"

// pooledFrame is the least frame body (bytes) that readFrame takes from a framePool: a bulk
// transfer's chunks are full, and a small chunk must not hold a buffer of a full one while it
// waits to be read.
const pooledFrame = maxChunk / 2

// framePool recycles the buffers of full inbound frames: readFrame fills one, the stream hands
// its data to Read, and Read returns it once every byte was copied out. A new buffer for every
// chunk cost the HTTP path a 128 KiB allocation, and its zeroing, per chunk. The zero value is
// ready; a nil *framePool allocates every buffer.
type framePool struct {
	bufs sync.Pool // of *[]byte, each of length maxChunk
}

// get is a buffer of n bytes for a frame body, and the handle to put it back with (nil when it
// does not come from the pool).
func (p *framePool) get(n int) ([]byte, *[]byte) {
	if p == nil || n < pooledFrame {
		return make([]byte, n), nil
	}
	b, _ := p.bufs.Get().(*[]byte)
	if b == nil {
		buf := make([]byte, maxChunk)
		b = &buf
	}
	return (*b)[:n], b
}

// put returns a buffer that get handed out: nothing may use it any more.
func (p *framePool) put(b *[]byte) {
	if p == nil || b == nil {
		return
	}
	p.bufs.Put(b)
}
