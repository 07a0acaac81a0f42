package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

// handle runs one connection: handshake, then pairing (and, for the second half, the splice).
func (s *Server) handle(conn net.Conn) {
	log := s.logger().With("remote", conn.RemoteAddr().String())
	// The deadline comes before admission, so that an eviction can only shorten it.
	deadline := time.Now().Add(s.handshakeTimeout())
	if err := conn.SetDeadline(deadline); err != nil {
		log.Debug("relay: set handshake deadline", "err", err)
		_ = conn.Close()
		return
	}
	att, ok := s.admit(conn, deadline)
	if !ok {
		s.refuseLogged(conn, access.ErrShuttingDown, log)
		return
	}
	claims, plain, err := s.handshake(conn, att)
	if err != nil {
		code := s.codeFor(err)
		switch {
		case errors.Is(err, errProbe) && code == access.ErrBadHello:
			// A latency probe (a TCP connect, then close): not a refusal, nothing to answer.
			log.Debug("relay: latency probe", "err", err)
			s.Metrics.probed()
			_ = conn.Close()
		case code == access.ErrSourceBusy:
			log.Debug("relay: half refused", "code", code, "err", err) // a flood: one line each would drown the log
			s.refuseBy(conn, code, att.leaveBy)
		default:
			log.Info("relay: half refused", "code", code, "err", err)
			s.refuse(conn, code)
		}
		s.left(att)
		return
	}
	log = log.With("session_id", claims.SessionID, "role", string(claims.Role), "decision_id", claims.DecisionID)
	s.pair(conn, claims, plain, log)
}

// tlsConn is a connection that runs a TLS handshake before its hello: a *tls.Conn, or a
// transport's wrapper of one (relayhttp.Conn).
type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// codeFor maps a handshake failure to the code sent to the half.
func (s *Server) codeFor(err error) access.Code {
	if code := refusalCode(err); code != "" {
		return code
	}
	if s.isClosing() {
		return access.ErrShuttingDown
	}
	return access.ErrBadHello
}

// handshake completes TLS and reads the hello while att holds the connection's place, then
// verifies the ticket for the role the hello names and answers frameAccepted, all within the
// handshake deadline. An evicted connection fails with access.ErrSourceBusy before its ticket
// is verified, so that it can present the ticket again elsewhere. A hello that asks for plain
// legs is refused (access.ErrPlainLegsRefused) unless its ticket's minimum level is
// access.LevelFast, before its ticket is consumed, so that the half may present it again over
// TLS legs; plain reports that it asked and may have them.
func (s *Server) handshake(conn net.Conn, att *attempt) (claims *ticket.Claims, plain bool, err error) {
	h, err := s.readHelloAdmitted(conn, att)
	if err != nil {
		return nil, false, err
	}
	if claims, err = s.Verifier.VerifyWith(h.Ticket, h.Role, admitLegs(h.PlainLegs)); err != nil {
		return nil, false, err
	}
	if a, ok := conn.(interface{ Authenticated() }); ok {
		a.Authenticated() // a transport may hold more for an authenticated half
	}
	if err := writeFrame(conn, frameAccepted, nil); err != nil {
		return nil, false, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, false, fmt.Errorf("relay: clear handshake deadline: %w", err)
	}
	return claims, h.PlainLegs, nil
}

// admitLegs checks a verified ticket against the legs its hello asked for: plain legs need a
// ticket whose minimum level is access.LevelFast.
func admitLegs(plain bool) func(*ticket.Claims) error {
	return func(c *ticket.Claims) error {
		if plain && !access.PlainLegs(c.Obligations.MinEncryption) {
			return fmt.Errorf("relay: %w: the ticket's minimum level is %q, not %q", access.ErrPlainLegsRefused,
				access.NormalizeLevel(c.Obligations.MinEncryption), access.LevelFast)
		}
		return nil
	}
}

// readHelloAdmitted runs the unauthenticated steps (TLS, reading the hello), then gives up
// att's place; whatever the steps returned, an evicted attempt fails with ErrSourceBusy.
func (s *Server) readHelloAdmitted(conn net.Conn, att *attempt) (hello, error) {
	h, err := func() (hello, error) {
		if tc, ok := conn.(tlsConn); ok {
			if err := tc.Handshake(); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("%w: %w", errProbe, err) // closed before its first byte
				}
				return hello{}, fmt.Errorf("relay: tls handshake: %w", err)
			}
			if s.secured(att) {
				return hello{}, nil // evicted meanwhile: refuse at once, no hello to wait for
			}
		}
		return readHello(conn)
	}()
	if s.release(att) {
		return hello{}, fmt.Errorf("relay: %w: a newer connection from %s took this one's place (%v)", access.ErrSourceBusy, att.src.addr, err)
	}
	return h, err
}

// admit gives conn a place among the handshakes unless the server is shutting down. When the
// bounds are reached, the attempt it displaces loses its place at once and its handler
// refuses it with ErrSourceBusy by evictedLinger: at once when it is waiting for its hello,
// as soon as its TLS handshake completes otherwise, and without a word (its deadline passed)
// when maxEvicted others are being refused already or its TLS handshake does not complete.
func (s *Server) admit(conn net.Conn, deadline time.Time) (*attempt, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	att, victim := s.admission.admit(conn, sourceOf(conn), deadline)
	if _, isTLS := conn.(tlsConn); !isTLS {
		att.secured = true
		s.admission.secure(att)
	}
	if p, ok := conn.(progressReporter); ok {
		p.OnProgress(func() { s.progressed(att) })
	}
	if victim != nil {
		now := time.Now()
		victim.leaveBy, victim.leaving = now, s.leaving < s.maxEvicted()
		wake := now
		if victim.leaving {
			s.leaving++
			victim.leaveBy = minTime(victim.deadline, now.Add(evictedLinger))
			if !victim.secured {
				wake = victim.leaveBy // let the TLS handshake finish, to carry the refusal
			}
		}
		_ = victim.conn.SetDeadline(wake)
	}
	s.Metrics.handshaking(s.admission.len())
	return att, true
}

// progressReporter is a connection that says when bytes of its handshake arrive
// (relayhttp.Conn), so that its place counts each step, not only the end of TLS.
type progressReporter interface {
	OnProgress(func())
}

// progressed records that bytes of att's handshake arrived: it keeps its place longer.
func (s *Server) progressed(att *attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admission.progress(att)
}

// secured records that att completed its TLS handshake; it reports whether att was evicted.
func (s *Server) secured(att *attempt) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	att.secured = true
	s.admission.secure(att)
	return att.evicted
}

// release gives up att's place; it reports whether att had been evicted.
func (s *Server) release(att *attempt) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	evicted := s.admission.release(att)
	s.Metrics.handshaking(s.admission.len())
	return evicted
}

// left ends the count of an evicted attempt once its handler refused it.
func (s *Server) left(att *attempt) {
	if !att.leaving {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaving--
}

func (s *Server) maxEvicted() int {
	return orDefault(s.MaxHandshakes, DefaultMaxHandshakes)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// transportOf names how a connection reached the CS: its Transport method's answer, else "tcp".
func transportOf(conn net.Conn) string {
	if t, ok := conn.(interface{ Transport() string }); ok {
		return t.Transport()
	}
	return "tcp"
}

// refuse sends frameRefused with code within refuseWriteTimeout; see refuseBy.
func (s *Server) refuse(conn net.Conn, code access.Code) {
	s.refuseBy(conn, code, time.Now().Add(refuseWriteTimeout))
}

// refuseBy sends frameRefused with code and half-closes conn, then discards what the half still
// sends (bounded by refuseLinger and maxLingerBytes) before closing it; writing the refusal (and
// finishing a TLS handshake not yet done) must end by deadline. Every step is best effort: the
// half may already be gone.
func (s *Server) refuseBy(conn net.Conn, code access.Code, deadline time.Time) {
	s.Metrics.refused(string(code))
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	if writeFrame(conn, frameRefused, []byte(code)) != nil || closeWrite(conn) != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(refuseLinger))
	_, _ = io.CopyN(io.Discard, conn, maxLingerBytes)
}

func (s *Server) refuseLogged(conn net.Conn, code access.Code, log *slog.Logger) {
	log.Info("relay: half refused", "code", code)
	s.refuse(conn, code)
}
