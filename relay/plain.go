package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/internal/rawconn"
)

// Plain legs (the fast level, access.LevelFast). When both halves of a session ask for them
// and both tickets' minimum level is fast, the CS announces them in framePaired, each endpoint
// acknowledges on the TCP connection under its TLS, and from then on the session's SSH stream
// (end-to-end encrypted and authenticated between Guest and Host) travels on TCP without a
// second layer: the relay copies it with splice(2) where the kernel has it, never through its
// own memory.

// TransportTCPPlain names a plain leg in the session's reports (GuestTransport and
// HostTransport): TCP whose TLS the CS dropped once paired.
const TransportTCPPlain = "tcp-plain"

// splicedChunk is the most one splice call of a busy plain direction moves before its counters
// are brought up to date.
const splicedChunk = 4 << 20

// isTLSOverTCP reports whether c is a TLS connection directly over a socket, whose leg can
// drop TLS (the HTTP fallback's tunnels cannot).
func isTLSOverTCP(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return false
	}
	_, ok = PlainConn(tc).(syscall.Conn)
	return ok
}

// dropTLS moves both legs of a plain session onto the TCP connections under their TLS, then
// waits for each endpoint's acknowledgement, within refuseWriteTimeout. Nothing is sent to an
// endpoint between framePaired and its acknowledgement, so its TLS layer holds no byte of the
// stream; and it sent nothing after its hello, so neither does the CS's. The legs move first so
// that a failure closes them without a TLS alert, which the endpoints no longer read as TLS.
func dropTLS(sess *session) error {
	sess.mu.Lock()
	sess.guest, sess.host = PlainConn(sess.guest.(*tls.Conn)), PlainConn(sess.host.(*tls.Conn))
	legs := []net.Conn{sess.guest, sess.host}
	sess.mu.Unlock()
	for _, raw := range legs {
		var ack [1]byte
		_ = raw.SetReadDeadline(time.Now().Add(refuseWriteTimeout))
		if _, err := io.ReadFull(raw, ack[:]); err != nil {
			return fmt.Errorf("relay: read the plain legs' acknowledgement: %w", err)
		}
		if ack[0] != plainAck {
			return fmt.Errorf("%w: plain legs acknowledged with 0x%02x", ErrProtocol, ack[0])
		}
		if err := raw.SetReadDeadline(time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// copySpliced is copyAdaptive for a plain session's legs, both TCP connections: a quiet
// direction reads into a small buffer as copyAdaptive does (and fails with errIdle after
// parkAfter without a byte, when the server parks directions); a read that fills it starts
// moving the stream with splice(2) where the kernel has it (chunkMover), up to splicedChunk at
// a time, until the source is quiet again or ends.
func (s *Server) copySpliced(out countingWriter, src, dst net.Conn) error {
	move, ok := chunkMover(dst, src)
	if !ok {
		return s.copyAdaptive(out, s.idleSource(src))
	}
	idle := s.idleSource(src)
	_, parks := idle.(*idleReader)
	after := orDefault(s.parkAfter, parkAfter)
	small := make([]byte, spliceSmallBuffer)
	for {
		nr, rerr := idle.Read(small)
		if nr > 0 {
			if _, err := out.Write(small[:nr]); err != nil {
				return err
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return rerr
		case nr < len(small):
			continue // quiet
		}
		done, err := spliceBurst(out, move, src, after, parks)
		if done || err != nil {
			return err
		}
	}
}

// chunkMover returns the function that moves up to max bytes of a busy stream from src to dst,
// as io.ReaderFrom's ReadFrom of an io.LimitedReader does: raw splice(2) calls between two raw
// connections (rawconn), else dst's ReadFrom (splice(2) between TCP connections on Linux).
func chunkMover(dst, src net.Conn) (func(max int64) (int64, error), bool) {
	rawDst, okDst := dst.(*rawconn.Conn)
	rawSrc, okSrc := src.(*rawconn.Conn)
	if okDst && okSrc {
		return func(max int64) (int64, error) { return rawDst.SpliceFrom(rawSrc, max) }, true
	}
	to, ok := dst.(io.ReaderFrom)
	if !ok {
		return nil, false
	}
	return func(max int64) (int64, error) { return to.ReadFrom(&io.LimitedReader{R: src, N: max}) }, true
}

// spliceBurst moves a busy stream from src to dst in chunks until a chunk finds the source
// quiet (a read deadline after the last byte, when parks is set; otherwise the chunk waits)
// or the stream ends (done). It counts what each chunk moved.
func spliceBurst(out countingWriter, move func(max int64) (int64, error), src net.Conn, after time.Duration, parks bool) (done bool, err error) {
	for {
		if parks {
			if err := src.SetReadDeadline(time.Now().Add(after)); err != nil {
				return false, err
			}
		}
		n, err := move(splicedChunk)
		out.counted(int(n))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && n == 0:
			return false, nil // quiet: back to the small reads, which park
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			return false, err
		case n < splicedChunk:
			return true, nil // the source ended
		}
	}
}
