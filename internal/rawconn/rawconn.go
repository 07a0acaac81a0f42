package rawconn

import (
	"context"
	"io"
	"net"
	"syscall"
)

// Conn is a TCP connection whose Read and Write are raw system calls (see the package
// comment); every other method is the TCP connection's.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn
}

// Wrap returns c with raw reads and writes when c is a TCP connection on a system that has
// them, and c itself otherwise.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok || !supported {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{TCPConn: tc, raw: raw}
}

// Unwrap is the TCP connection under c.
func (c *Conn) Unwrap() *net.TCPConn { return c.TCPConn }

// ReadFrom copies r into the connection with Write, not with the TCP connection's own
// ReadFrom.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(writerOnly{c}, r) }

// WriteTo copies the connection into w with Read, not with the TCP connection's own WriteTo.
func (c *Conn) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, readerOnly{c}) }

// copyFrom moves up to max bytes from src to c through memory, with Read and Write: SpliceFrom
// where no pipe can be made.
func (c *Conn) copyFrom(src *Conn, max int64) (int64, error) {
	return io.Copy(writerOnly{c}, &io.LimitedReader{R: readerOnly{src}, N: max})
}

// writerOnly and readerOnly hide every method but Write and Read.
type (
	writerOnly struct{ w io.Writer }
	readerOnly struct{ r io.Reader }
)

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }
func (r readerOnly) Read(p []byte) (int, error)  { return r.r.Read(p) }

// opError describes a failed raw read or write as the net package would.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Listener is a listener whose TCP connections are wrapped (Wrap).
type Listener struct{ net.Listener }

// Accept waits for the next connection and returns it wrapped.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// DialContext dials with d and wraps the connection (for http.Transport.DialContext).
func DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return Wrap(c), nil
	}
}
