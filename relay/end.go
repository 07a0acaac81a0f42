package relay

import (
	"time"

	"github.com/portcullis/portcullis/access"

	"github.com/portcullis/portcullis/ticket"
)

// EndMaxDuration is SessionReport.Reason for a session cut when its maximum duration (from
// the ticket's obligations) ran out.
const EndMaxDuration = "max_duration"

// maxDurationGrace is how long after the maximum duration the CS cuts a session: the Host ends
// it on time (and tells the Guest why); the CS is the backstop.
const maxDurationGrace = time.Second

// EndSession ends session id now, whether it is spliced or one half is still waiting for its
// peer; a spliced session is reported with reason (for example the lock that ended it). It
// reports whether this CS held the session.
func (s *Server) EndSession(id, reason string) bool {
	s.init()
	s.mu.Lock()
	sess, live := s.live[id]
	h, waiting := s.pending[id]
	if waiting {
		delete(s.pending, id) // whoever removes a pending half owns its connection
	}
	s.mu.Unlock()
	if live {
		sess.end(reason)
	}
	if waiting {
		s.dismissWaiting(h, reason)
	}
	if live || waiting {
		s.logger().Info("relay: session ended on request", "session_id", id, "reason", reason)
	}
	return live || waiting
}

// dismissWaiting closes a half whose session the CM ended before its peer came. A reason that
// is a refusal code (the Host never collected the request: access.ErrHostNotAnswering) is sent
// to it first, so that the Guest learns why; any other reason is the CM's to report.
func (s *Server) dismissWaiting(h *half, reason string) {
	if code := access.Code(reason); code.Known() {
		go s.refuse(h.conn, code) // it lingers; the caller is the CS's order loop
		return
	}
	_ = h.conn.Close()
}

// SessionIDs returns the ids of the sessions this CS holds: spliced, or with one half waiting
// for its peer. It is never nil.
func (s *Server) SessionIDs() []string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.live)+len(s.pending))
	for id := range s.live {
		ids = append(ids, id)
	}
	for id := range s.pending {
		ids = append(ids, id)
	}
	return ids
}

// end cuts the session, reporting reason unless another end came first.
func (sess *session) end(reason string) {
	sess.endReason.CompareAndSwap(nil, &reason)
	sess.closeBoth()
}

// limitDuration cuts the session maxDurationGrace after the maximum duration of its
// obligations, counted from the ticket's issue (when the Guest's certificate became valid),
// runs out.
func limitDuration(sess *session, c *ticket.Claims) {
	d := c.Obligations.MaxDuration()
	if d <= 0 {
		return
	}
	sess.limit = time.AfterFunc(time.Until(c.IssuedAt.Add(d+maxDurationGrace)), func() { sess.end(EndMaxDuration) })
}
