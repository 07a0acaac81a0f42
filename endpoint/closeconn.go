package endpoint

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/portcullis/portcullis/relay"
)

// closeDrain bounds how long Close waits for the other end to finish sending.
const closeDrain = 2 * time.Second

// gracefulConn is a relayed connection that ends cleanly: Close says this end is done
// sending (TLS close_notify), reads and discards what the other end still sends until it is
// done too (or closeDrain passes), and only then closes. Closing at once while the other end
// still sends makes the relay's write fail (a reset), and the relay would record a session that
// ended well as ended in error.
type gracefulConn struct {
	net.Conn
	once sync.Once
	err  error
	out  coalescer
	in   *readAhead // nil over TLS, whose records already arrive whole
}

// closeWriter is a connection that can say it is done sending and still read.
type closeWriter interface {
	CloseWrite() error
}

// graceful wraps c so that its Close ends cleanly; c unchanged when it cannot half-close.
func graceful(c net.Conn) net.Conn {
	if _, ok := c.(closeWriter); !ok {
		return c
	}
	g := &gracefulConn{Conn: c}
	if tc, ok := c.(*tls.Conn); ok {
		g.out.cork, _ = tc.NetConn().(*relay.GatherConn)
	} else {
		g.in = &readAhead{}
	}
	return g
}

// Close half-closes, drains what the other end still sends, then closes; it is safe to call
// more than once and from several goroutines.
func (g *gracefulConn) Close() error {
	g.once.Do(func() {
		if g.CloseWrite() == nil && g.Conn.SetReadDeadline(time.Now().Add(closeDrain)) == nil {
			_, _ = io.Copy(io.Discard, readerOnly{g.Conn}) // ends at EOF, the deadline or an error
		}
		g.err = g.Conn.Close()
		if errors.Is(g.err, net.ErrClosed) || errors.Is(g.err, os.ErrDeadlineExceeded) {
			g.err = nil
		}
	})
	return g.err
}

// Read reads the stream, through the read-ahead buffer on a plain leg.
func (g *gracefulConn) Read(p []byte) (int, error) {
	if g.in == nil {
		return g.Conn.Read(p)
	}
	return g.in.read(g.Conn, p)
}

// Write sends p, holding a write that ends short of its SSH packet back for the rest (see
// coalescer).
func (g *gracefulConn) Write(p []byte) (int, error) { return g.out.write(g.Conn, p) }

// CloseWrite sends what is held back, then passes a half-close on.
func (g *gracefulConn) CloseWrite() error {
	if err := g.out.flush(g.Conn); err != nil {
		return err
	}
	return g.Conn.(closeWriter).CloseWrite()
}

// readerOnly hides everything but Read, so that io.Copy does not take a WriterTo path.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
