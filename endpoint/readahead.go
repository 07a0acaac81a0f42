package endpoint

import "io"

// readAheadSize is how much a plain leg reads at once in a bulk transfer. x/crypto/ssh reads
// a packet as its first 4 KiB and then the rest: two system calls per packet; reading what the
// connection has ready, up to this much, serves several packets with one.
const readAheadSize = 128 << 10

// readAhead is the read buffer of a plain leg. It reads ahead only in a bulk transfer: once
// a read filled what it was given, and until a read ahead returns less than a quarter of the
// buffer; then the buffer is dropped once drained, so that an idle or interactive session
// holds none. It is used by one reader at a time (the SSH connection's read loop).
type readAhead struct {
	buf  []byte
	r, w int   // buf[r:w] was read ahead and not yet returned
	bulk bool  // the last read filled its buffer
	err  error // what ended the read ahead, returned once it is drained
}

// read fills p from what was read ahead, else reads from src: ahead in a bulk transfer,
// straight into p otherwise.
func (a *readAhead) read(src io.Reader, p []byte) (int, error) {
	if a.r == a.w {
		if a.err != nil {
			return 0, a.err
		}
		if !a.bulk || len(p) >= readAheadSize {
			n, err := src.Read(p)
			a.bulk = n > 0 && n == len(p)
			return n, err
		}
		if a.buf == nil {
			a.buf = make([]byte, readAheadSize)
		}
		n, err := src.Read(a.buf)
		a.bulk = n >= readAheadSize/4
		if n == 0 {
			return 0, err
		}
		a.r, a.w, a.err = 0, n, err
	}
	n := copy(p, a.buf[a.r:a.w])
	a.r += n
	if a.r == a.w {
		a.r, a.w = 0, 0
		if !a.bulk {
			a.buf = nil
		}
	}
	return n, nil
}
