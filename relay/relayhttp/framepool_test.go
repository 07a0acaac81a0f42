package relayhttp

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
)

// Full inbound chunks come from the pool and go back once read, or at once when they repeat
// a chunk already taken; a recycled buffer never shows through: every Read returns the bytes
// of its own chunk, in two streams that share the pool.
func TestInboundBuffersGoBackToThePoolOnceRead(t *testing.T) {
	var pool framePool
	streams := []*stream{newStream(&net.TCPAddr{}, &net.TCPAddr{}, &pool), newStream(&net.TCPAddr{}, &net.TCPAddr{}, &pool)}
	for _, s := range streams {
		s.authed = true // past the relay handshake: the full window
	}
	const chunks = 64
	frames := make([][]byte, chunks)
	for i := range frames {
		frames[i] = appendFrame(nil, 0, bytes.Repeat([]byte{byte(i)}, MaxChunkData))
	}
	got := make([]byte, MaxChunkData)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < chunks; i += 2 {
		seq := uint64(i / 2)
		// Both streams take their chunk (and its retransmission) before either is read: a
		// buffer put back too early would be filled with the other stream's bytes.
		for j, s := range streams {
			for range 2 { // the second is a retransmission, dropped
				c, err := readFrame(bytes.NewReader(frames[i+j]), &pool)
				if err != nil || c.buf == nil {
					t.Fatalf("chunk %d: %v, pooled %t", i+j, err, c.buf != nil)
				}
				if err := s.deliver(seq, c, nil); err != nil {
					t.Fatalf("deliver chunk %d: %v", i+j, err)
				}
			}
		}
		for j, s := range streams {
			if _, err := io.ReadFull(s, got); err != nil {
				t.Fatalf("read chunk %d: %v", i+j, err)
			}
			if n := bytes.Count(got, []byte{byte(i + j)}); n != MaxChunkData {
				t.Fatalf("chunk %d read back %d other bytes", i+j, MaxChunkData-n)
			}
		}
	}
	runtime.ReadMemStats(&after)
	// Without the pool: two 128 KiB buffers per chunk, 16 MiB in all. Under the race detector
	// the pool drops a quarter of what it is given, so only the bytes read back count there.
	if grew := after.TotalAlloc - before.TotalAlloc; !raceEnabled && grew > chunks*MaxChunkData/2 {
		t.Errorf("%d chunks allocated %d KiB: the buffers were not reused", 2*chunks, grew>>10)
	}
}

// A small chunk gets a buffer of its own size, not a pooled one.
func TestSmallFramesAreNotPooled(t *testing.T) {
	var pool framePool
	c, err := readFrame(bytes.NewReader(appendFrame(nil, 0, []byte("abc"))), &pool)
	if err != nil || c.buf != nil || string(c.data) != "abc" || cap(c.data) != 3 {
		t.Fatalf("small chunk = %q (cap %d), pooled %t, %v", c.data, cap(c.data), c.buf != nil, err)
	}
}
