package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// relayKillDelay is how long after the Host the CS is told to end a session: the Host closes it
// first and tells the Guest why; the CS's order is the backstop for a Host that does not.
const relayKillDelay = 500 * time.Millisecond

// endSessions ends live sessions everywhere: it records the end and why, and tells the CS and
// the Host to close them now. It returns the ids of the sessions it ended.
func (s *Server) endSessions(ctx context.Context, sessions []store.Session, reason string) []string {
	now := s.cfg.Now()
	ended := make([]string, 0, len(sessions))
	for _, sess := range sessions {
		if err := s.cfg.Store.EndSession(ctx, sess.ID, now, 0, 0, reason); err != nil {
			s.cfg.Logger.Warn("record session end", "session_id", sess.ID, "err", err)
		}
		s.orderEnd(ctx, sess, reason)
		s.live.remove(sess.ID)
		s.cfg.Logger.Info("session ended by the CM", "session_id", sess.ID, "subject", sess.Subject, "host_name", sess.HostName, "relay_id", sess.RelayID, "reason", reason)
		ended = append(ended, sess.ID)
	}
	return ended
}

// orderEnd tells the session's Host now, and its CS relayKillDelay later, to close it: through
// the store, so that they hear of it on whichever replica they poll.
func (s *Server) orderEnd(ctx context.Context, sess store.Session, reason string) {
	now := s.cfg.Now()
	if err := s.postMail(ctx, store.HostMailbox(sess.HostID), api.HostRequest{SessionID: sess.ID, Kill: true, Reason: reason}, now, now.Add(orderTTL), true); err != nil {
		s.cfg.Logger.Warn("order a host to end a session", "host_id", sess.HostID, "session_id", sess.ID, "err", err)
	}
	if sess.RelayID == "" {
		return
	}
	if err := s.postMail(ctx, store.RelayMailbox(sess.RelayID), api.RelayCommand{SessionID: sess.ID, Reason: reason}, now.Add(relayKillDelay), now.Add(orderTTL), true); err != nil {
		s.cfg.Logger.Warn("order a relay to end a session", "relay_id", sess.RelayID, "session_id", sess.ID, "err", err)
	}
}

// orderEndHere is orderEnd without the store (the emergency brake): the orders wait in this
// replica's memory for the Host and the CS that poll it; once the lock is recorded, orderEnd
// reaches them wherever they poll.
func (s *Server) orderEndHere(sess store.Session, reason string) {
	s.keepOrder(store.HostMailbox(sess.HostID), api.HostRequest{SessionID: sess.ID, Kill: true, Reason: reason})
	if sess.RelayID != "" {
		time.AfterFunc(relayKillDelay, func() {
			s.keepOrder(store.RelayMailbox(sess.RelayID), api.RelayCommand{SessionID: sess.ID, Reason: reason})
		})
	}
}

// handleRelayCommands is a Connection Server's long-poll for the sessions it must end.
func (s *Server) handleRelayCommands(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticateRelayForOrders(w, r)
	if !ok {
		return
	}
	q, err := parseParams(r, api.QueryRelayID)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	id, ok := s.relayID(w, r, p, q.Get(api.QueryRelayID))
	if !ok {
		return
	}
	box := store.RelayMailbox(id)
	writeJSON(w, http.StatusOK, api.RelayCommands{Commands: decodeMail[api.RelayCommand](s, box, s.collectMail(r.Context(), box, s.cfg.LongPoll))})
}

// The relay's end reasons that a Host's own reason refines: the relay sees a connection close,
// the Host knows why (relay.EndClosed, relay.EndError).
const (
	relayEndClosed = "closed"
	relayEndError  = "error"
)

// handleHostSessionEnd records a Host's report of a finished session: the channels opened and,
// unless the session's end is already recorded, the Host's reason.
func (s *Server) handleHostSessionEnd(w http.ResponseWriter, r *http.Request) {
	h, ok := s.authenticateHost(w, r)
	if !ok {
		return
	}
	var req api.HostSessionEnd
	if !readJSON(w, r, &req) {
		return
	}
	sess, err := s.cfg.Store.GetSession(r.Context(), req.SessionID)
	if err != nil || sess.HostID != h.ID {
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such session on this host"})
		return
	}
	err = s.cfg.Store.RecordHostEnd(r.Context(), req.SessionID, s.cfg.Now(), req.ChannelsOpened, req.Reason, relayEndClosed, relayEndError)
	if err != nil {
		s.cfg.Logger.Warn("record session channels", "session_id", req.SessionID, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
