package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// relayKillDelay is how long after the Host the CS is told to end a session: the Host closes it
// first and tells the Guest why; the CS's order is the backstop for a Host that does not.
const relayKillDelay = 500 * time.Millisecond

// relayCommandQueue bounds the kill commands queued for one Connection Server that is not
// polling; a full queue drops the newest (the session record is ended either way).
const relayCommandQueue = 1024

// relayMailboxes holds, per Connection Server, the kill commands waiting for its long-poll.
type relayMailboxes struct {
	mu    sync.Mutex
	boxes map[string]chan api.RelayCommand
}

func newRelayMailboxes() *relayMailboxes {
	return &relayMailboxes{boxes: map[string]chan api.RelayCommand{}}
}

func (m *relayMailboxes) box(relayID string) chan api.RelayCommand {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.boxes[relayID]
	if !ok {
		b = make(chan api.RelayCommand, relayCommandQueue)
		m.boxes[relayID] = b
	}
	return b
}

// send queues cmd for the relay; false when its queue is full.
func (m *relayMailboxes) send(relayID string, cmd api.RelayCommand) bool {
	select {
	case m.box(relayID) <- cmd:
		return true
	default:
		return false
	}
}

// receive waits up to timeout for the relay's first command, then takes every queued one.
func (m *relayMailboxes) receive(ctx context.Context, relayID string, timeout time.Duration) []api.RelayCommand {
	b := m.box(relayID)
	t := time.NewTimer(timeout)
	defer t.Stop()
	out := []api.RelayCommand{}
	select {
	case cmd := <-b:
		out = append(out, cmd)
	case <-t.C:
		return out
	case <-ctx.Done():
		return out
	}
	for {
		select {
		case cmd := <-b:
			out = append(out, cmd)
		default:
			return out
		}
	}
}

// endSessions ends live sessions everywhere: it records the end and why, and tells the CS and
// the Host to close them now. It returns the ids of the sessions it ended.
func (s *Server) endSessions(ctx context.Context, sessions []store.Session, reason string) []string {
	now := s.cfg.Now()
	ended := make([]string, 0, len(sessions))
	for _, sess := range sessions {
		if err := s.cfg.Store.EndSession(ctx, sess.ID, now, 0, 0, reason); err != nil {
			s.cfg.Logger.Warn("record session end", "session_id", sess.ID, "err", err)
		}
		s.orders.first(sess.ID, now)
		s.orderEnd(sess, reason)
		s.live.remove(sess.ID)
		s.cfg.Logger.Info("session ended by the CM", "session_id", sess.ID, "subject", sess.Subject, "host_name", sess.HostName, "relay_id", sess.RelayID, "reason", reason)
		ended = append(ended, sess.ID)
	}
	return ended
}

// orderEnd tells the session's Host now, and its CS relayKillDelay later, to close it.
func (s *Server) orderEnd(sess store.Session, reason string) {
	if !s.presence.deliver(sess.HostID, api.HostRequest{SessionID: sess.ID, Kill: true, Reason: reason}) {
		s.cfg.Logger.Warn("host request queue full", "host_id", sess.HostID, "session_id", sess.ID)
	}
	time.AfterFunc(relayKillDelay, func() {
		if !s.relayCmds.send(sess.RelayID, api.RelayCommand{SessionID: sess.ID, Reason: reason}) {
			s.cfg.Logger.Warn("relay command queue full", "relay_id", sess.RelayID, "session_id", sess.ID)
		}
	})
}

// Passing on the orders of other CM replicas: a Host or a CS polls one replica, so each replica
// looks for sessions that any replica ended by order (a lock, a policy change) and orders the
// end to the Hosts and CSs that poll it.
const (
	// orderSweep is how often a replica looks.
	orderSweep = time.Second
	// orderWindow is how far back it looks.
	orderWindow = 30 * time.Second
)

// orderLog remembers which sessions this CM already ordered to end.
type orderLog struct {
	mu   sync.Mutex
	sent map[string]time.Time
}

func newOrderLog() *orderLog { return &orderLog{sent: map[string]time.Time{}} }

// first notes the order for the session and reports whether it is the first one; it forgets
// orders older than twice orderWindow.
func (o *orderLog) first(id string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for old, at := range o.sent {
		if now.Sub(at) > 2*orderWindow {
			delete(o.sent, old)
		}
	}
	if _, ok := o.sent[id]; ok {
		return false
	}
	o.sent[id] = now
	return true
}

// passOnOrders orders the end of sessions that another replica ended by order, to the Hosts
// and CSs this CM knows.
func (s *Server) passOnOrders(ctx context.Context) error {
	now := s.cfg.Now()
	ss, err := s.cfg.Store.EndedSince(ctx, now.Add(-orderWindow))
	if err != nil {
		return err
	}
	for _, sess := range ss {
		ordered := strings.HasPrefix(sess.EndReason, api.ReasonPrefixLocked) || strings.HasPrefix(sess.EndReason, api.ReasonPrefixRevoked)
		if !ordered || !s.presence.known(sess.HostID) && !s.relays.isAlive(sess.RelayID) || !s.orders.first(sess.ID, now) {
			continue
		}
		s.cfg.Logger.Info("passing on another CM's order to end a session", "session_id", sess.ID, "reason", sess.EndReason)
		s.orderEnd(sess, sess.EndReason)
	}
	return nil
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
	writeJSON(w, http.StatusOK, api.RelayCommands{Commands: s.relayCmds.receive(r.Context(), id, s.cfg.LongPoll)})
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
