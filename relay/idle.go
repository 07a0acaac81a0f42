package relay

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"
)

// parkAfter is how long a splice direction reads nothing before it parks: its goroutine ends
// and a readiness watch (one per server) restarts the copy when bytes arrive, so that an idle
// session holds no goroutine and no copy buffer, only its two connections.
const parkAfter = 5 * time.Second

// errIdle is what an idleReader returns when nothing arrived for parkAfter.
var errIdle = errors.New("relay: splice direction idle")

// readWaiter watches connections for readability without a goroutine per connection.
type readWaiter interface {
	// watch calls wake once, when c has something to read or the watch is cancelled (the
	// returned function, safe to call at any time). It fails when c cannot be watched.
	watch(c net.Conn, wake func()) (cancel func(), err error)
	// forget ends the kernel's watch of c before its copy resumes.
	forget(c net.Conn)
	// len returns the number of watches registered.
	len() int
	// close stops the watcher; watches still registered are never woken.
	close() error
}

// direction is one way of a splice.
type direction int

// The two directions of a session.
const (
	guestToHost direction = iota
	hostToGuest
)

// idleReader reads from a connection with a deadline parkAfter ahead (renewed at most every
// quarter of it, to keep timer updates off the busy path) and turns the deadline into errIdle.
type idleReader struct {
	conn  net.Conn
	after time.Duration
	armed time.Time
}

// Read reads from the connection; it fails with errIdle after r.after without a byte.
func (r *idleReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(r.armed) > r.after/4 {
		r.armed = now
		if err := r.conn.SetReadDeadline(now.Add(r.after)); err != nil {
			return 0, err
		}
	}
	n, err := r.conn.Read(p)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errIdle
	}
	return n, err
}

// rawConn returns the socket of c, a TLS connection over TCP or a plain leg's TCP connection;
// ok is false for any other transport (the HTTP fallback), whose directions never park.
func rawConn(c net.Conn) (syscall.RawConn, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	return rc, err == nil
}

// idleSource is what a direction reads from: src itself when it cannot park, an idleReader
// otherwise.
func (s *Server) idleSource(src net.Conn) (r interface{ Read([]byte) (int, error) }) {
	if _, ok := rawConn(src); !ok || s.waiter() == nil {
		return src
	}
	return &idleReader{conn: src, after: orDefault(s.parkAfter, parkAfter)}
}

// waiter returns the server's readWaiter, started on first use; nil where parking is not
// supported or the watcher could not start (directions then keep their goroutines).
func (s *Server) waiter() readWaiter {
	s.idleOnce.Do(func() {
		w, err := newReadWaiter()
		if err != nil {
			s.logger().Warn("relay: idle sessions keep their goroutines", "err", err)
			return
		}
		s.idle.Store(&waiterRef{w})
	})
	if w := s.idle.Load(); w != nil {
		return w
	}
	return nil
}

// waiterRef holds a readWaiter in an atomic.Pointer.
type waiterRef struct{ readWaiter }

// park hands direction d of sess, idle, to the waiter: it reports whether the direction is
// parked (its goroutine must end: resume carries on when bytes arrive or the session is cut).
func (s *Server) park(sess *session, d direction, resume func(), log *slog.Logger) bool {
	src, _ := sess.legs(d)
	w := s.waiter()
	s.Metrics.parking(1)
	cancel, err := w.watch(src, func() {
		s.Metrics.parking(-1)
		go func() {
			w.forget(src)
			sess.unparked(d)
			resume()
		}()
	})
	if err != nil {
		s.Metrics.parking(-1)
		log.Debug("relay: cannot park an idle direction", "err", err)
		return false
	}
	if !sess.parked(d, cancel) {
		cancel() // cut meanwhile: resume at once, to find the connection closed
	}
	return true
}

// legs returns the source and destination of direction d.
func (sess *session) legs(d direction) (src, dst net.Conn) {
	if d == guestToHost {
		return sess.guest, sess.host
	}
	return sess.host, sess.guest
}

// parked records the cancel of direction d's watch; false when the session is closed already.
func (sess *session) parked(d direction, cancel func()) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return false
	}
	sess.wakes[d] = cancel
	return true
}

// unparked forgets direction d's watch once it woke.
func (sess *session) unparked(d direction) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.wakes[d] = nil
}

// closeBoth closes both halves, then wakes the parked directions so that they end.
func (sess *session) closeBoth() {
	sess.mu.Lock()
	sess.closed = true
	wakes := sess.wakes
	sess.wakes = [2]func(){}
	guest, host := sess.guest, sess.host // dropTLS may have moved them to plain legs
	sess.mu.Unlock()
	_ = guest.Close()
	_ = host.Close()
	for _, wake := range wakes {
		if wake != nil {
			wake()
		}
	}
}
