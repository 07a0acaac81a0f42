package relay

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// Copy buffers of one splice direction, in bytes. A quiet direction waits with only the small
// buffer (an idle one parks with none: idle.go); a read that fills it borrows a large one from
// the Server's pool, and a read that does not fill the large one (the burst is over) gives it
// back, so that idle sessions cost little memory and bulk transfers move up to four whole TLS
// records (64 KiB of plaintext) per read and, over a gathering connection (gather.go), per
// system call.
const (
	spliceSmallBuffer = 512
	spliceLargeBuffer = 64 << 10
)

// splice tells both halves they are paired, then copies bytes both ways on two goroutines of
// their own (the handler's stack, grown by the TLS handshake, ends here) until both directions
// are done; the last one closes both halves and reports the session. An idle direction parks
// (see parkAfter) and holds no goroutine until bytes arrive.
func (s *Server) splice(sess *session, log *slog.Logger) {
	err := announcePaired(sess)
	if err == nil && sess.plain {
		err = dropTLS(sess)
	}
	if err != nil {
		log.Info("relay: announcing the pairing failed", "err", err)
		sess.failed.Store(true)
		s.endSession(sess, log)
		return
	}
	sess.running.Store(2)
	s.wg.Add(2) // the handler calling splice is counted, so Shutdown's Wait cannot have returned
	go s.pipe(sess, guestToHost, log)
	go s.pipe(sess, hostToGuest, log)
}

// announcePaired writes framePaired to both halves, each within refuseWriteTimeout; its
// payload announces plain legs when the session has them.
func announcePaired(sess *session) error {
	var payload []byte
	if sess.plain {
		payload = []byte{pairedPlain}
	}
	for _, c := range []net.Conn{sess.guest, sess.host} {
		_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		if err := writeFrame(c, framePaired, payload); err != nil {
			return err
		}
		if err := c.SetWriteDeadline(time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// pipe copies direction d verbatim, counting the bytes delivered. When its source finishes
// sending it half-closes the destination; when either side fails it cuts the whole session.
// An idle direction parks and pipe returns; it runs again when bytes arrive. The last
// direction to finish ends the session.
func (s *Server) pipe(sess *session, d direction, log *slog.Logger) {
	src, dst := sess.legs(d)
	n := &sess.guestToHost
	if d == hostToGuest {
		n = &sess.hostToGuest
	}
	out := countingWriter{w: gatheredWriterOf(dst), session: n, total: &s.bytes, metrics: s.Metrics}
	var err error
	if sess.plain {
		err = s.copySpliced(out, src, dst)
	} else {
		err = s.copyAdaptive(out, s.idleSource(src))
	}
	if errors.Is(err, errIdle) {
		if s.park(sess, d, func() { s.pipe(sess, d, log) }, log) {
			return
		}
		err = src.SetReadDeadline(time.Time{}) // cannot park: keep the goroutine
		if err == nil {
			err = s.copyAdaptive(out, src)
		}
	}
	if err == nil {
		err = closeWrite(dst)
	}
	if err != nil {
		if !sess.forced.Load() && sess.endReason.Load() == nil && !sess.failed.Swap(true) {
			log.Info("relay: splice failed; cutting the session", "err", err)
		}
		sess.closeBoth()
	}
	if sess.running.Add(-1) == 0 {
		s.endSession(sess, log)
	}
	s.wg.Done()
}

// copyAdaptive copies src to dst until src ends (nil error) or either side fails, reading
// into the small buffer while the stream is quiet and into a pooled large one while it is busy.
// A busy read from a TLS connection is topped up with what has already arrived (topUp), so
// that every write carries as much as one TLS record holds, whatever the sender's record
// sizes: one write of a read's small start and one of its rest would cost two records and two
// system calls where one does.
func (s *Server) copyAdaptive(dst io.Writer, src io.Reader) error {
	small := make([]byte, spliceSmallBuffer)
	var large *[]byte
	defer func() {
		if large != nil {
			s.buffers.Put(large)
		}
	}()
	now := nowReaderOf(src)
	for {
		buf := small
		if large != nil {
			buf = *large
		}
		nr, rerr := src.Read(buf)
		if rerr == nil && now != nil && (large != nil || nr == len(small)) {
			if large == nil {
				large = s.buffers.Get().(*[]byte)
				copy(*large, small[:nr])
			}
			buf = *large
			nr, rerr = topUp(now, buf, nr)
		}
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			if werr == nil && nw != nr {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return werr
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return rerr
		case large == nil && nr == len(small): // a reader that cannot top up
			large = s.buffers.Get().(*[]byte)
		case large != nil && nr < MaxRecordPlaintext: // less than a record had arrived: quiet again
			s.buffers.Put(large)
			large = nil
		}
	}
}

// topUp fills buf beyond its first n bytes with what now has at hand without waiting; it
// returns the bytes buf holds and the error of a read that failed for another reason than
// having nothing at hand.
func topUp(now func([]byte) (int, error), buf []byte, n int) (int, error) {
	for n < len(buf) {
		m, err := now(buf[n:])
		n += m
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil || m == 0 {
			return n, err
		}
	}
	return n, nil
}

// nowReaderOf returns a function that reads from src only what it already holds (a read that
// would wait fails with os.ErrDeadlineExceeded), or nil when src cannot. A TLS connection can:
// a read whose deadline has passed returns the rest of the records it has received and
// decrypted, and a read that timed out leaves the connection usable (only a write that timed
// out breaks a TLS connection). The deadline is then put back: none on a plain half, the
// idle deadline an idleReader armed.
func nowReaderOf(src io.Reader) func([]byte) (int, error) {
	var c *tls.Conn
	restore := func() time.Time { return time.Time{} }
	switch r := src.(type) {
	case *tls.Conn:
		c = r
	case *idleReader:
		c, _ = r.conn.(*tls.Conn)
		restore = func() time.Time { return r.armed.Add(r.after) }
	}
	if c == nil {
		return nil
	}
	return func(p []byte) (int, error) {
		if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil { // long past
			return 0, err
		}
		n, err := c.Read(p)
		if derr := c.SetReadDeadline(restore()); err == nil && derr != nil {
			err = derr
		}
		return n, err
	}
}

// closeWrite half-closes c (TLS close_notify, or TCP FIN); a connection that cannot
// half-close is closed.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// endSession closes both halves, forgets the session and reports it.
func (s *Server) endSession(sess *session, log *slog.Logger) {
	if sess.limit != nil {
		sess.limit.Stop()
	}
	sess.closeBoth()
	s.mu.Lock()
	delete(s.live, sess.id)
	s.Metrics.ended(len(s.live))
	s.mu.Unlock()
	r := SessionReport{
		SessionID:        sess.id,
		Started:          sess.started,
		Ended:            time.Now(),
		BytesGuestToHost: sess.guestToHost.Load(),
		BytesHostToGuest: sess.hostToGuest.Load(),
		Reason:           sess.reason(),
		GuestTransport:   sess.guestTransport,
		HostTransport:    sess.hostTransport,
	}
	log.Info("relay: session ended", "reason", r.Reason,
		"bytes_guest_to_host", r.BytesGuestToHost, "bytes_host_to_guest", r.BytesHostToGuest,
		"duration", r.Ended.Sub(r.Started))
	if s.OnSessionEnd != nil {
		s.OnSessionEnd(r)
	}
}

// countingWriter counts the bytes written through it into the session's and the server's
// counters.
type countingWriter struct {
	w              io.Writer
	session, total *atomic.Int64
	metrics        *Metrics
}

// Write writes p to the underlying writer and counts what it took.
func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.counted(n)
	return n, err
}

// counted counts n bytes delivered.
func (c countingWriter) counted(n int) {
	c.session.Add(int64(n))
	c.total.Add(int64(n))
	c.metrics.relayed(n)
}
