package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// Mail for the agents that poll the CM. A Host's connection request and an order to end a
// session (to a Host or a CS) are posted to the store (store.PostMail), whichever replica
// decided them; the recipient's long-poll collects them on whichever replica it polls. The
// store is the truth: a message survives the replica that posted it, and is collected once. A
// wake-up makes delivery fast: the posting replica wakes its own waiters; on PostgreSQL every
// replica hears of new mail by LISTEN/NOTIFY, and elsewhere (CockroachDB) polls the table.
// While the store is down, orders to end sessions (the emergency brake, emergency.go) are kept
// in this replica's memory and reach the agents that poll it.
const (
	// hostRequestTTL bounds how long a connection request waits for its Host: a Host that polls
	// collects it in milliseconds, and one that has not by then is not answering. The Guest's
	// session is then ended and its CS tells the waiting Guest why, before the CS's own pairing
	// timeout (relay.DefaultPairTimeout).
	hostRequestTTL = 8 * time.Second
	// orderTTL bounds how long an order to end a session waits for its recipient.
	orderTTL = 2 * time.Minute
	// mailPollListening is how often a replica that listens for mail also looks at the table,
	// for messages whose notification it missed.
	mailPollListening = 2 * time.Second
	// mailPoll is how often a replica that cannot listen (CockroachDB) looks at the table.
	mailPoll = 200 * time.Millisecond
	// mailPollOverlap is how far back each look reaches before the previous one, for the
	// replicas' clock skew and for transactions that committed late.
	mailPollOverlap = 2 * time.Second
	// mailRetry is the pause of a long-poll whose store read failed.
	mailRetry = time.Second
	// mailStoreTimeout bounds each store read or write of mail.
	mailStoreTimeout = emergencyStoreTimeout
	// expiredMailBatch is how many expired messages the sweep handles per store call.
	expiredMailBatch = 500
)

// mailWaiters wakes the long-polls waiting on this replica and keeps the orders that could not
// be posted while the store was down.
type mailWaiters struct {
	mu    sync.Mutex
	wake  map[string]chan struct{} // by recipient; closed and removed to wake its long-polls
	local map[string][]json.RawMessage
	// drained holds, by recipient, the wake channel handed out before a collection that found
	// the mailbox empty once it had taken the due messages (markDrained).
	drained map[string]<-chan struct{}
	// waiting counts the long-polls waiting here (the metric portcullis_cm_long_polls);
	// skipped the long-polls that began waiting without a look (portcullis_cm_mail_looks_skipped_total).
	waiting, skipped atomic.Int64
}

func newMailWaiters() *mailWaiters {
	return &mailWaiters{wake: map[string]chan struct{}{}, local: map[string][]json.RawMessage{}, drained: map[string]<-chan struct{}{}}
}

// markDrained notes that a collection begun after wake was handed out left the recipient's
// mailbox empty: until wake closes (a post to the recipient, or wakeAll), nothing can be
// waiting there, and the recipient's next long-poll may wait without a look.
func (m *mailWaiters) markDrained(recipient string, wake <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wake[recipient] == wake {
		m.drained[recipient] = wake
	}
}

// takeDrained reports whether the recipient's mailbox is known to be empty: marked so against
// wake, the channel its long-poll waits on now, which no post has closed since. The mark is
// used once, so a long-poll that times out looks before it returns, as a safety net.
func (m *mailWaiters) takeDrained(recipient string, wake <-chan struct{}) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	marked, ok := m.drained[recipient]
	delete(m.drained, recipient)
	if ok && marked == wake {
		m.skipped.Add(1)
		return true
	}
	return false
}

// waitChan returns the channel closed at the recipient's next wake-up.
func (m *mailWaiters) waitChan(recipient string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.wake[recipient]
	if !ok {
		ch = make(chan struct{})
		m.wake[recipient] = ch
	}
	return ch
}

// wakeUp wakes the recipient's long-polls on this replica, if any.
func (m *mailWaiters) wakeUp(recipient string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch, ok := m.wake[recipient]; ok {
		close(ch)
		delete(m.wake, recipient)
	}
	delete(m.drained, recipient)
}

// wakeAll wakes every long-poll on this replica (after notifications may have been missed).
func (m *mailWaiters) wakeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for r, ch := range m.wake {
		close(ch)
		delete(m.wake, r)
	}
	clear(m.drained)
}

// keep holds an order to end a session for a recipient in memory. It is never refused for
// room: a dropped order would leave a session running, and the orders are bounded by the
// live sessions this replica knows (one to the Host and one to the CS of each it ends).
func (m *mailWaiters) keep(recipient string, body json.RawMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.local[recipient] = append(m.local[recipient], body)
}

// takeLocal returns and forgets the oldest messages held in memory for the recipient, at most
// limit of them; the rest wait for its next long-poll.
func (m *mailWaiters) takeLocal(recipient string, limit int) []json.RawMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.local[recipient]
	if len(out) <= limit {
		delete(m.local, recipient)
		return out
	}
	m.local[recipient] = slices.Clone(out[limit:]) // so that the ones handed out can be freed
	return out[:limit:limit]
}

// postMail posts msg for the recipient, due at deliverAt and discarded at expiresAt, and wakes
// the recipient's long-polls on this replica. An order to end a session that the store cannot
// take is kept in memory instead (the emergency brake); anything else fails.
func (s *Server) postMail(ctx context.Context, recipient string, msg any, deliverAt, expiresAt time.Time, order bool) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode mail for %s: %w", recipient, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailStoreTimeout)
	defer cancel()
	err = s.cfg.Store.PostMail(ctx, store.Mail{Recipient: recipient, Body: body, QueuedAt: s.cfg.Now(), DeliverAt: deliverAt, ExpiresAt: expiresAt})
	if err != nil && order && !errors.Is(err, store.ErrMailboxFull) && !errors.Is(err, store.ErrInvalid) {
		s.mail.keep(recipient, body)
		s.cfg.Logger.Warn("store unavailable: an order to end a session waits in this replica's memory", "recipient", recipient, "err", err)
		err = nil
	}
	s.mail.wakeUp(recipient)
	return err
}

// keepOrder holds body, an order to end a session (or err, the failure to encode it), in this
// replica's memory, without the store, and wakes its recipient's long-polls here.
func (s *Server) keepOrder(recipient string, body []byte, err error) {
	if err != nil {
		s.cfg.Logger.Error("encode an order to end a session", "recipient", recipient, "err", err)
		return
	}
	s.mail.keep(recipient, body)
	s.mail.wakeUp(recipient)
}

// collectMail returns the recipient's messages, waiting up to timeout for the first one: what
// this replica holds in memory and what the store has for it. It begins to wait without a look
// when the last collection left the mailbox empty and no post has come since (takeDrained), as
// when a Host comes back at once from the long-poll that handed it its request.
func (s *Server) collectMail(ctx context.Context, recipient string, timeout time.Duration) []json.RawMessage {
	end := time.Now().Add(timeout)
	woken, first := false, true
	for {
		wake := s.mail.waitChan(recipient) // before reading, so that no wake-up is missed
		var out []json.RawMessage
		var next time.Time
		var err error
		if !first || !s.mail.takeDrained(recipient, wake) {
			out, next, err = s.readMail(ctx, recipient, woken, wake)
		}
		first = false
		if len(out) > 0 || ctx.Err() != nil {
			return out
		}
		pause := time.Until(end)
		if pause <= 0 {
			return nil
		}
		switch {
		case err != nil:
			s.cfg.Logger.Warn("collect mail", "recipient", recipient, "err", err)
			pause = min(pause, mailRetry)
		case !next.IsZero():
			pause = min(pause, max(next.Sub(s.cfg.Now()), time.Millisecond))
		}
		woken = s.waitForMail(ctx, wake, pause)
	}
}

// waitForMail waits up to pause for a wake-up, counted in portcullis_cm_long_polls, and
// reports whether one came.
func (s *Server) waitForMail(ctx context.Context, wake <-chan struct{}, pause time.Duration) bool {
	t := time.NewTimer(pause)
	defer t.Stop()
	s.mail.waiting.Add(1)
	defer s.mail.waiting.Add(-1)
	select {
	case <-wake:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// readMail takes the recipient's messages from memory and from the store; woken says that a
// wake-up (mail posted to the recipient) came since the last read, wake is the channel handed
// out before it.
func (s *Server) readMail(ctx context.Context, recipient string, woken bool, wake <-chan struct{}) ([]json.RawMessage, time.Time, error) {
	// One answer holds at most store.MaxCollect messages (ordersize.go): those held here go
	// first, alone, and the store's wait for the next long-poll, which comes at once.
	if out := s.mail.takeLocal(recipient, store.MaxCollect); len(out) > 0 {
		return out, time.Time{}, nil
	}
	var out []json.RawMessage
	ctx, cancel := context.WithTimeout(ctx, mailStoreTimeout)
	defer cancel()
	c, err := s.cfg.Store.Collect(ctx, recipient, s.cfg.Now(), woken)
	for _, m := range c.Mail {
		out = append(out, m.Body)
	}
	if c.Drained {
		s.mail.markDrained(recipient, wake)
	}
	return out, c.Next, err
}

// decodeMail decodes collected messages of one kind, dropping (and logging) any that do not
// decode.
func decodeMail[T any](s *Server, recipient string, bodies []json.RawMessage) []T {
	out := make([]T, 0, len(bodies))
	for _, b := range bodies {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			s.cfg.Logger.Error("undecodable mail dropped", "recipient", recipient, "err", err)
			continue
		}
		out = append(out, v)
	}
	return out
}

// watchMail wakes this replica's long-polls when another replica posts to their recipients,
// until ctx ends: by LISTEN/NOTIFY where the store has it, and by polling the table (rarely
// then, as a safety net; often where it is the only way). A store only this CM uses needs
// neither: postMail wakes its own waiters.
func (s *Server) watchMail(ctx context.Context) {
	if !s.cfg.Store.SharedByReplicas() {
		return
	}
	every := mailPoll
	if s.cfg.Store.CanListen() {
		every = mailPollListening
		go func() {
			if err := s.cfg.Store.ListenMail(ctx, s.mail.wakeUp, s.mail.wakeAll); err != nil {
				s.cfg.Logger.Error("listen for mail", "err", err)
			}
		}()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	since := s.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		rctx, cancel := context.WithTimeout(ctx, mailStoreTimeout)
		recipients, err := s.cfg.Store.MailRecipientsSince(rctx, since.Add(-mailPollOverlap))
		cancel()
		if err != nil {
			s.cfg.Logger.Warn("look for new mail", "err", err)
			continue
		}
		since = now
		for _, r := range recipients {
			s.mail.wakeUp(r)
		}
	}
}

// discardExpiredMail deletes the messages that expired undelivered. A connection request its
// Host never collected ends its session: the Guest waiting at the CS is told that the Host is
// not answering. The holder of the singleton lease does this for the whole system.
func (s *Server) discardExpiredMail(ctx context.Context) error {
	for {
		expired, err := s.cfg.Store.DiscardExpiredMail(ctx, s.cfg.Now(), expiredMailBatch)
		if err != nil {
			return err
		}
		for _, m := range expired {
			s.endUncollectedRequest(ctx, m)
		}
		if len(expired) < expiredMailBatch {
			return nil
		}
	}
}

// endUncollectedRequest ends the session of a connection request that expired in its Host's
// mailbox, unless its end is recorded already.
func (s *Server) endUncollectedRequest(ctx context.Context, m store.Mail) {
	var req api.HostRequest
	if err := json.Unmarshal(m.Body, &req); err != nil || req.Kill || req.SessionID == "" {
		return
	}
	sess, err := s.cfg.Store.GetSession(ctx, req.SessionID)
	if err != nil || sess.EndedAt != nil {
		return
	}
	s.cfg.Logger.Warn("the host did not collect a connection request in time", "session_id", sess.ID, "host_id", sess.HostID, "host_name", sess.HostName)
	s.endSessions(ctx, []store.Session{sess}, string(access.ErrHostNotAnswering))
}
