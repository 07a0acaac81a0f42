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
// the Host to close them now. It returns the ids of the sessions it ended. Many sessions cost a
// few statements: their ends and their orders are written a page at a time.
func (s *Server) endSessions(ctx context.Context, sessions []store.Session, reason string) []string {
	now := s.cfg.Now()
	ended := sessionIDs(sessions)
	if err := s.cfg.Store.EndSessions(ctx, ended, now, reason); err != nil {
		s.cfg.Logger.Warn("record session ends", "sessions", len(ended), "err", err)
	}
	s.orderEnd(ctx, sessions, reason)
	for _, sess := range sessions {
		s.live.remove(sess.ID)
		s.cfg.Logger.Info("session ended by the CM", "session_id", sess.ID, "subject", sess.Subject, "host_name", sess.HostName, "relay_id", sess.RelayID, "reason", reason)
	}
	return ended
}

// orderEnd tells the sessions' Hosts now, and their CSs relayKillDelay later, to close them:
// through the store, so that they hear of it on whichever replica they poll. While the store
// is down the orders wait in this replica's memory.
func (s *Server) orderEnd(ctx context.Context, sessions []store.Session, reason string) {
	now := s.cfg.Now()
	orders := make([]store.Mail, 0, 2*len(sessions))
	add := func(recipient string, body []byte, err error, deliverAt time.Time) {
		if err != nil {
			s.cfg.Logger.Error("encode an order to end a session", "recipient", recipient, "err", err)
			return
		}
		orders = append(orders, store.Mail{Recipient: recipient, Body: body, QueuedAt: now, DeliverAt: deliverAt, ExpiresAt: now.Add(orderTTL)})
	}
	for _, sess := range sessions {
		body, err := hostOrder(sess.ID, reason)
		add(store.HostMailbox(sess.HostID), body, err, now)
		if sess.RelayID != "" {
			body, err := relayOrder(sess.ID, reason)
			add(store.RelayMailbox(sess.RelayID), body, err, now.Add(relayKillDelay))
		}
	}
	for _, o := range s.postOrders(ctx, orders) {
		time.AfterFunc(o.DeliverAt.Sub(now), func() { s.keepOrder(o.Recipient, o.Body, nil) })
	}
	woken := map[string]bool{}
	for _, o := range orders {
		if !woken[o.Recipient] {
			woken[o.Recipient] = true
			s.mail.wakeUp(o.Recipient)
		}
	}
}

// postOrders writes orders to the store, each attempt bounded by mailStoreTimeout and retried
// while it makes progress, and returns those it could not write.
func (s *Server) postOrders(ctx context.Context, orders []store.Mail) []store.Mail {
	for len(orders) > 0 {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailStoreTimeout)
		n, err := s.cfg.Store.PostOrders(sctx, orders)
		cancel()
		orders = orders[n:]
		if err != nil && n == 0 {
			s.cfg.Logger.Warn("store unavailable: orders to end sessions wait in this replica's memory", "orders", len(orders), "err", err)
			return orders
		}
	}
	return nil
}

// orderEndHere is orderEnd without the store (the emergency brake): the orders wait in this
// replica's memory for the Host and the CS that poll it; once the lock is recorded, orderEnd
// reaches them wherever they poll.
func (s *Server) orderEndHere(sess store.Session, reason string) {
	body, err := hostOrder(sess.ID, reason)
	s.keepOrder(store.HostMailbox(sess.HostID), body, err)
	if sess.RelayID != "" {
		body, err := relayOrder(sess.ID, reason)
		time.AfterFunc(relayKillDelay, func() { s.keepOrder(store.RelayMailbox(sess.RelayID), body, err) })
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
