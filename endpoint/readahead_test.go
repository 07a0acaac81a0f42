package endpoint

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"slices"
	"testing"
)

// readLog is a source that answers each Read with at most the next of its sizes (all it has
// when they run out) and counts the reads.
type readLog struct {
	data  []byte
	sizes []int
	reads int
	err   error // returned with the last bytes
}

func (r *readLog) Read(p []byte) (int, error) {
	r.reads++
	if len(r.data) == 0 {
		return 0, cmp.Or(r.err, io.EOF)
	}
	n := len(p)
	if len(r.sizes) > 0 {
		n, r.sizes = min(n, r.sizes[0]), r.sizes[1:]
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.err != nil {
		return n, r.err
	}
	return n, nil
}

// sshReads reads src as x/crypto/ssh reads a connection: through a 4 KiB buffer, then the rest
// of each 32 KiB packet straight into the packet; after, when not nil, runs after every read.
func sshReads(t *testing.T, a *readAhead, src io.Reader, total int, after func()) []byte {
	t.Helper()
	var out []byte
	for len(out) < total {
		want := min(4096, total-len(out))
		if len(out)%ChannelChunk != 0 {
			want = min(ChannelChunk-len(out)%ChannelChunk, total-len(out))
		}
		p := make([]byte, want)
		n, err := a.read(src, p)
		out = append(out, p[:n]...)
		if after != nil {
			after()
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(out), err)
		}
	}
	return out
}

func TestReadAhead(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tests := []struct {
		name string
		// sizes caps what each read of the source returns (nothing: all that is asked).
		sizes []int
		// maxReads bounds the reads of the source for the whole payload.
		maxReads int
		// heldAfter is whether the buffer is held once everything was read.
		heldAfter bool
		// readsAhead is whether the buffer is ever allocated.
		readsAhead bool
	}{
		// A bulk transfer: after the first packet, the source is read 128 KiB at a time.
		{name: "bulk", maxReads: 1<<20/readAheadSize + 4, heldAfter: true, readsAhead: true},
		// An interactive session (reads of 100 bytes) never reads ahead.
		{name: "interactive", sizes: slices.Repeat([]int{100}, 1<<20/100+64), maxReads: 1<<20/100 + 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &readLog{data: payload, sizes: tc.sizes}
			a := &readAhead{}
			allocated := false
			got := sshReads(t, a, src, len(payload), func() { allocated = allocated || a.buf != nil })
			if !bytes.Equal(got, payload) {
				t.Fatal("the bytes read differ from those sent")
			}
			if src.reads > tc.maxReads {
				t.Errorf("%d reads of the source, want at most %d", src.reads, tc.maxReads)
			}
			if allocated != tc.readsAhead {
				t.Errorf("read ahead = %v, want %v", allocated, tc.readsAhead)
			}
			if held := a.buf != nil; held != tc.heldAfter {
				t.Errorf("buffer held after the transfer = %v, want %v", held, tc.heldAfter)
			}
		})
	}
}

// A bulk transfer that turns idle drops its buffer once drained: an idle session holds none.
func TestReadAheadDropsItsBufferWhenTheTransferEnds(t *testing.T) {
	bulk := bytes.Repeat([]byte{7}, 4096+4*readAheadSize)
	sizes := append(append([]int{4096}, slices.Repeat([]int{readAheadSize}, 4)...), 4)
	src := &readLog{data: append(bulk, []byte("tail")...), sizes: sizes}
	a := &readAhead{}
	got := sshReads(t, a, src, len(bulk)+4, nil)
	if !bytes.Equal(got[len(bulk):], []byte("tail")) {
		t.Fatalf("tail = %q", got[len(bulk):])
	}
	if a.buf != nil {
		t.Fatal("the buffer is held after a short read was drained")
	}
}

// An error that came with the last bytes is returned once they are read, and again after.
func TestReadAheadReturnsTheErrorAfterTheBytes(t *testing.T) {
	broken := errors.New("connection reset")
	data := bytes.Repeat([]byte{1}, 200<<10)
	src := &readLog{data: data, err: broken}
	a := &readAhead{bulk: true}
	p := make([]byte, 64<<10)
	var n int
	for {
		m, err := a.read(src, p)
		n += m
		if err != nil {
			if !errors.Is(err, broken) {
				t.Fatalf("err = %v, want %v", err, broken)
			}
			break
		}
		if m == 0 {
			t.Fatal("a read returned nothing and no error")
		}
	}
	if n != len(data) {
		t.Fatalf("read %d bytes before the error, want %d", n, len(data))
	}
	if _, err := a.read(src, p); !errors.Is(err, broken) {
		t.Fatalf("read after the error = %v, want %v", err, broken)
	}
}
