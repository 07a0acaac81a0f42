package relayhttp

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"
)

// outboundStream is a CS-side stream past the relay handshake whose outbound segments come
// from pool.
func outboundStream(pool *framePool) *stream {
	s := newStream(&net.TCPAddr{}, &net.TCPAddr{}, pool)
	s.authed = true
	return s
}

// serveChunk is what the recv handler does with outbound chunk seq: take it (acknowledging
// every chunk below ack), check its bytes, release it.
func serveChunk(t *testing.T, s *stream, seq, ack uint64, want byte) chunk {
	t.Helper()
	c, ok, err := s.chunkAt(seq, ack, time.Now().Add(time.Second), nil)
	if err != nil || !ok {
		t.Fatalf("chunk %d: ok %t, %v", seq, ok, err)
	}
	if n := bytes.Count(c.data, []byte{want}); n != len(c.data) || len(c.data) != MaxChunkData {
		t.Fatalf("chunk %d: %d of %d bytes are %d", seq, n, len(c.data), want)
	}
	return c
}

// A bulk transfer's outbound segments come from the pool and go back once their chunk was
// served and acknowledged: the CS no longer allocates 128 KiB per chunk.
func TestOutboundSegmentsGoBackToThePoolOnceAcknowledged(t *testing.T) {
	var pool framePool
	s := outboundStream(&pool)
	const chunks = 64
	payload := make([]byte, MaxChunkData)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range uint64(chunks) {
		for j := range payload {
			payload[j] = byte(i)
		}
		if _, err := s.Write(payload); err != nil {
			t.Fatal(err)
		}
		serveChunk(t, s, i, i, byte(i)).seg.release()
	}
	runtime.ReadMemStats(&after)
	// Without the pool: a 128 KiB segment per chunk, 8 MiB in all. Under the race detector
	// the pool drops a quarter of what it is given.
	if grew := after.TotalAlloc - before.TotalAlloc; !raceEnabled && grew > chunks*MaxChunkData/2 {
		t.Errorf("%d chunks allocated %d KiB: the segments were not reused", chunks, grew>>10)
	}
}

// A chunk still being written keeps its bytes when its acknowledgement arrives meanwhile (a
// retransmission served late): its segment goes back only when the writer is done, and the
// chunks that follow, cut from recycled segments, never show through it.
func TestAChunkBeingWrittenKeepsItsSegmentPastItsAcknowledgement(t *testing.T) {
	var pool framePool
	s := outboundStream(&pool)
	if _, err := s.Write(bytes.Repeat([]byte{'a'}, MaxChunkData)); err != nil {
		t.Fatal(err)
	}
	inFlight := serveChunk(t, s, 0, 0, 'a')
	for i := uint64(1); i <= 16; i++ {
		if _, err := s.Write(bytes.Repeat([]byte{byte(i)}, MaxChunkData)); err != nil {
			t.Fatal(err)
		}
		serveChunk(t, s, i, i, byte(i)).seg.release() // acknowledges every chunk before i
	}
	if n := bytes.Count(inFlight.data, []byte{'a'}); n != MaxChunkData {
		t.Fatalf("the chunk in flight was overwritten: %d of %d bytes left", n, MaxChunkData)
	}
	if refs := inFlight.seg.refs.Load(); refs != 1 {
		t.Fatalf("the chunk in flight holds %d references, want its writer's 1", refs)
	}
	inFlight.seg.release()
	if inFlight.seg.buf != nil {
		t.Fatal("the segment did not go back to the pool when its writer was done")
	}
}

// Chunks cut from one segment while the writer keeps filling it share it: the segment goes back
// once the queue and every chunk let go of it, not when the first chunk does.
func TestChunksCutFromOneSegmentShareIt(t *testing.T) {
	var pool framePool
	s := outboundStream(&pool)
	write := func(b byte, n int) {
		t.Helper()
		if _, err := s.Write(bytes.Repeat([]byte{b}, n)); err != nil {
			t.Fatal(err)
		}
	}
	write('x', MaxChunkData/4) // a full segment: four times what waits to be cut
	first, ok, err := s.chunkAt(0, 0, time.Now().Add(time.Second), nil)
	if err != nil || !ok || first.seg == nil {
		t.Fatalf("first chunk: ok %t, pooled %t, %v", ok, first.seg != nil, err)
	}
	write('y', MaxChunkData/4) // into the same segment's spare room
	second, ok, err := s.chunkAt(1, 2, time.Now().Add(time.Second), nil)
	if err != nil || !ok || second.seg != first.seg {
		t.Fatalf("second chunk: ok %t, same segment %t, %v", ok, second.seg == first.seg, err)
	}
	first.seg.release()
	second.seg.release()
	// The queue still holds the segment (its spare room) and the cut map the second chunk.
	if first.seg.buf == nil || string(second.data[:1]) != "y" || string(first.data[:1]) != "x" {
		t.Fatal("the shared segment went back while the queue and a chunk still held it")
	}
}

// Releasing a segment more often than it was held is a bug that would hand a buffer in use
// to another tunnel: it panics rather than go on.
func TestReleasingASegmentTooOftenPanics(t *testing.T) {
	var pool framePool
	seg, _ := newOutSegment(&pool)
	seg.release()
	defer func() {
		if recover() == nil {
			t.Fatal("a second release did not panic")
		}
	}()
	seg.release()
}

// Without a pool (a nil *framePool) segments are allocated and every reference call is a no-op.
func TestUnpooledSegmentsNeedNoReleases(t *testing.T) {
	seg, b := newOutSegment(nil)
	if seg != nil || cap(b) != MaxChunkData || len(b) != 0 {
		t.Fatalf("unpooled segment: %v, len %d, cap %d", seg, len(b), cap(b))
	}
	seg.hold()
	seg.release()
	seg.release()
}
