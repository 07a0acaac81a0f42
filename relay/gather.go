package relay

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// Gathering the records of one TLS write. crypto/tls writes each record with a system call
// of its own, and each wakes the peer. A busy splice direction writes up to spliceLargeBuffer
// bytes at a time; under a gathering connection the records of that write leave in one system
// call, and the peer (a Guest or a Host) wakes once for them.

// GatheringListener returns ln with every accepted connection able to gather the records of
// one write (the CS's TCP listener, under its TLS listener). The gathering buffers are lent
// from one pool per listener while a write lasts.
func GatheringListener(ln net.Listener) net.Listener {
	gl := &gatheringListener{Listener: ln}
	gl.pool.New = func() any { b := make([]byte, 0, spliceLargeBuffer+gatherOverhead); return &b }
	return gl
}

// gatherOverhead is what TLS adds to spliceLargeBuffer bytes of plaintext in full records: a
// header and a tag per record, a content-type byte in TLS 1.3. A connection's first writes
// use smaller records (crypto/tls's dynamic record sizing); the buffer then grows once.
const gatherOverhead = (spliceLargeBuffer/(16<<10) + 1) * 64

type gatheringListener struct {
	net.Listener
	pool sync.Pool
}

func (l *gatheringListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatherConn{Conn: c, pool: &l.pool}, nil
}

// gatherConn is an accepted connection that gathers writes between gather and flush.
type gatherConn struct {
	net.Conn
	pool *sync.Pool
	mu   sync.Mutex
	buf  *[]byte // lent from pool while gathering
}

// Write sends p, or gathers it while a write of the splice gathers.
func (c *gatherConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// gather starts gathering writes.
func (c *gatherConn) gather() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = c.pool.Get().(*[]byte)
	}
}

// flush sends what was gathered in one write and gives the buffer back.
func (c *gatherConn) flush() error {
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

// SyscallConn is the accepted connection's (idle parking watches its descriptor).
func (c *gatherConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("relay: connection has no descriptor")
	}
	return sc.SyscallConn()
}

// gatheredWriter writes to a splice leg, gathering the records of a write longer than the
// small buffer when the leg runs over a gathering connection: a write of even one record's
// length may leave as several (crypto/tls starts a connection with small records).
type gatheredWriter struct {
	w      io.Writer
	gather *gatherConn // nil when the leg cannot gather
}

// gatheredWriterOf returns the writer of leg c.
func gatheredWriterOf(c net.Conn) gatheredWriter {
	gw := gatheredWriter{w: c}
	if tc, ok := c.(*tls.Conn); ok {
		gw.gather, _ = tc.NetConn().(*gatherConn)
	}
	return gw
}

func (g gatheredWriter) Write(p []byte) (int, error) {
	if g.gather == nil || len(p) <= spliceSmallBuffer {
		return g.w.Write(p)
	}
	g.gather.gather()
	n, err := g.w.Write(p)
	if ferr := g.gather.flush(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// maxRecordPlaintext is the most plaintext one TLS record carries.
const maxRecordPlaintext = 16 << 10
