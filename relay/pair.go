package relay

import (
	"log/slog"
	"net"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

// pair either completes a session with the waiting other half and splices it, or registers
// conn as the session's waiting half; plain says that conn's half asked for plain legs.
func (s *Server) pair(conn net.Conn, claims *ticket.Claims, plain bool, log *slog.Logger) {
	sid := claims.SessionID
	s.mu.Lock()
	peer, waiting := s.pending[sid]
	_, live := s.live[sid]
	switch {
	case s.closing:
		s.mu.Unlock()
		s.refuseLogged(conn, access.ErrShuttingDown, log)
	case live || waiting && peer.role == claims.Role:
		s.mu.Unlock()
		s.refuseLogged(conn, access.ErrDuplicateHalf, log)
	case waiting && len(s.live) >= s.maxLive():
		delete(s.pending, sid)
		s.mu.Unlock()
		close(peer.claimed)
		s.refuseLogged(peer.conn, access.ErrOverloaded, log)
		s.refuseLogged(conn, access.ErrOverloaded, log)
	case waiting:
		delete(s.pending, sid)
		sess := newSession(sid, conn, claims.Role, peer.conn)
		if sess.plain = plain && peer.plain && isTLSOverTCP(conn) && isTLSOverTCP(peer.conn); sess.plain {
			sess.guestTransport, sess.hostTransport = TransportTCPPlain, TransportTCPPlain
		}
		limitDuration(sess, claims)
		s.live[sid] = sess
		waited := sess.started.Sub(peer.since)
		s.Metrics.paired(len(s.live), waited)
		s.mu.Unlock()
		close(peer.claimed)
		log.Info("relay: session paired", "guest_transport", sess.guestTransport, "host_transport", sess.hostTransport, "plain_legs", sess.plain, "waited", waited)
		if s.OnPaired != nil {
			s.OnPaired(PairReport{SessionID: sid, Waited: waited, GuestTransport: sess.guestTransport, HostTransport: sess.hostTransport})
		}
		s.splice(sess, log)
	case len(s.pending) >= s.maxPending():
		s.mu.Unlock()
		s.refuseLogged(conn, access.ErrOverloaded, log)
	default:
		h := &half{conn: conn, role: claims.Role, plain: plain, since: time.Now(), claimed: make(chan struct{})}
		s.pending[sid] = h
		s.mu.Unlock()
		log.Debug("relay: half waiting for its peer")
		s.wait(sid, h, log)
	}
}

// newSession assembles a session from the arriving half (of role) and the waiting one.
func newSession(sid string, conn net.Conn, role access.Role, waiting net.Conn) *session {
	sess := &session{id: sid, guest: conn, host: waiting, started: time.Now()}
	if role == access.RoleHost {
		sess.guest, sess.host = waiting, conn
	}
	sess.guestTransport, sess.hostTransport = transportOf(sess.guest), transportOf(sess.host)
	return sess
}

// wait holds a registered half until its peer claims it, the pairing timeout passes, or the
// server shuts down. Whoever removes the half from the pending map owns its connection.
func (s *Server) wait(sid string, h *half, log *slog.Logger) {
	timer := time.NewTimer(s.pairTimeout())
	defer timer.Stop()
	var code access.Code
	select {
	case <-h.claimed:
		return
	case <-timer.C:
		code = access.ErrPairTimeout
	case <-s.done:
		code = access.ErrShuttingDown
	}
	s.mu.Lock()
	mine := s.pending[sid] == h
	if mine {
		delete(s.pending, sid)
	}
	s.mu.Unlock()
	if mine {
		s.refuseLogged(h.conn, code, log)
	}
}
