package relay

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/portcullis/portcullis/internal/rawconn"
)

// Gathering the records of one TLS write. crypto/tls writes each record with a system call
// of its own, and each wakes the peer. A busy splice direction writes up to spliceLargeBuffer
// bytes at a time; under a gathering connection the records of that write leave in one system
// call, and the peer (a Guest or a Host) wakes once for them.

// GatheringListener returns ln with every accepted connection a GatherConn (the CS's TCP
// listener, under its TLS listener). The gathering buffers are lent from one pool per listener
// while a write lasts.
func GatheringListener(ln net.Listener) net.Listener {
	return &gatheringListener{Listener: ln, pool: newGatherPool()}
}

// newGatherPool is a pool of gathering buffers, each large enough for the records of a busy
// splice direction's write.
func newGatherPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 0, spliceLargeBuffer+gatherOverhead); return &b }}
}

// gatherOverhead is what TLS adds to spliceLargeBuffer bytes of plaintext in full records: a
// header and a tag per record, a content-type byte in TLS 1.3. A connection's first writes
// use smaller records (crypto/tls's dynamic record sizing); the buffer then grows once.
const gatherOverhead = (spliceLargeBuffer/(16<<10) + 1) * 64

type gatheringListener struct {
	net.Listener
	pool *sync.Pool
}

func (l *gatheringListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &GatherConn{Conn: rawconn.Wrap(c), pool: l.pool}, nil
}

// GatherConn is a TCP connection under a TLS connection that gathers the writes between Gather
// and Flush (the records TLS writes for one plaintext write) and sends them in one system
// call, so that the peer wakes once for them. Create it with NewGatherConn, or accept it from a
// GatheringListener.
type GatherConn struct {
	net.Conn
	pool *sync.Pool // lends the buffer while gathering
	mu   sync.Mutex
	buf  *[]byte // nil unless gathering
}

// NewGatherConn returns c able to gather, with a buffer pool of its own (a dialled connection).
func NewGatherConn(c net.Conn) *GatherConn {
	return &GatherConn{Conn: c, pool: newGatherPool()}
}

// Write sends p, or gathers it between Gather and Flush.
func (c *GatherConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// Gather starts gathering writes.
func (c *GatherConn) Gather() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = c.pool.Get().(*[]byte)
	}
}

// Flush sends what was gathered in one write and stops gathering.
func (c *GatherConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return nil
	}
	b := c.buf
	c.buf = nil
	var err error
	if len(*b) > 0 {
		_, err = c.Conn.Write(*b)
	}
	*b = (*b)[:0]
	c.pool.Put(b)
	return err
}

// SyscallConn is the underlying connection's (idle parking watches its descriptor).
func (c *GatherConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("relay: connection has no descriptor")
	}
	return sc.SyscallConn()
}

// WriteGathered writes p through w (a TLS connection over g) with the records of the write
// gathered into one system call; the error of the write, or else of the gathered send.
func WriteGathered(w io.Writer, g *GatherConn, p []byte) (int, error) {
	g.Gather()
	n, err := w.Write(p)
	if ferr := g.Flush(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// gatheredWriter writes to a splice leg, gathering the records of a write longer than the
// small buffer when the leg runs over a gathering connection: a write of even one record's
// length may leave as several (crypto/tls starts a connection with small records).
type gatheredWriter struct {
	w      io.Writer
	gather *GatherConn // nil when the leg cannot gather
}

// gatheredWriterOf returns the writer of leg c.
func gatheredWriterOf(c net.Conn) gatheredWriter {
	gw := gatheredWriter{w: c}
	if tc, ok := c.(*tls.Conn); ok {
		gw.gather, _ = tc.NetConn().(*GatherConn)
	}
	return gw
}

func (g gatheredWriter) Write(p []byte) (int, error) {
	if g.gather == nil || len(p) <= spliceSmallBuffer {
		return g.w.Write(p)
	}
	return WriteGathered(g.w, g.gather, p)
}

// MaxRecordPlaintext is the most plaintext one TLS record carries.
const MaxRecordPlaintext = 16 << 10
