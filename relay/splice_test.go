package relay

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// chunkReader returns its data in reads of the given sizes (the last one repeats).
type chunkReader struct {
	data   []byte
	sizes  []int
	reads  int
	maxBuf int // the largest buffer a Read was given
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.maxBuf = max(c.maxBuf, len(p))
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	size := c.sizes[min(c.reads, len(c.sizes)-1)]
	c.reads++
	n := copy(p, c.data[:min(size, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

func TestCopyAdaptiveDeliversEveryByteWhateverTheReadSizes(t *testing.T) {
	payload := make([]byte, 200<<10)
	for i := range payload {
		payload[i] = byte(i*31 + i>>8)
	}
	cases := []struct {
		name      string
		sizes     []int
		wantLarge bool
	}{
		{"quiet: one small message at a time", []int{100}, false},
		{"bulk: whole records", []int{spliceLargeBuffer}, true},
		{"bursts then quiet", []int{spliceSmallBuffer, spliceLargeBuffer, spliceLargeBuffer, 10, 300, spliceSmallBuffer, 5000}, true},
		{"single bytes", []int{1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{}
			s.init()
			src := &chunkReader{data: bytes.Clone(payload), sizes: tc.sizes}
			var dst bytes.Buffer
			if err := s.copyAdaptive(&dst, src); err != nil {
				t.Fatalf("copyAdaptive: %v", err)
			}
			if !bytes.Equal(dst.Bytes(), payload) {
				t.Fatalf("copied %d bytes, differing from the %d sent", dst.Len(), len(payload))
			}
			if got := src.maxBuf == spliceLargeBuffer; got != tc.wantLarge {
				t.Errorf("used the large buffer = %v, want %v", got, tc.wantLarge)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("peer gone") }

func TestCopyAdaptiveReturnsTheWriteError(t *testing.T) {
	s := &Server{}
	s.init()
	err := s.copyAdaptive(failingWriter{}, &chunkReader{data: []byte("hello"), sizes: []int{5}})
	if err == nil || err.Error() != "peer gone" {
		t.Fatalf("copyAdaptive = %v, want the write error", err)
	}
}
