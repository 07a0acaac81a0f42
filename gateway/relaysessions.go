package gateway

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/store"
)

// endSessionsOfLostRelays ends the live sessions of relays that stopped reporting: a CS that
// dies takes its own sessions with it, and only those. A CS only cut off from the CM (a
// replica that hangs, a network that drops its reports) may still splice them, out of reach
// of locks and re-evaluation once their records are ended, so their Hosts and the CS are
// ordered to end them too (fail closed).
func (s *Server) endSessionsOfLostRelays(ctx context.Context) error {
	all, err := s.cfg.Store.ListRelays(ctx)
	if err != nil {
		return fmt.Errorf("list relays: %w", err)
	}
	for _, id := range s.lostRelays(all, s.cfg.Now()) {
		n := 0
		err := s.cfg.Store.EachLiveSessionPage(ctx, store.LiveFilter{RelayID: id}, func(page []store.Session) error {
			n += len(s.endSessions(ctx, page, reasonRelayLost))
			return nil
		})
		s.cfg.Logger.Warn("relay stopped reporting; its sessions are ended", "relay_id", id, "sessions", n)
		if err != nil {
			return fmt.Errorf("end sessions of relay %s: %w", id, err)
		}
	}
	return nil
}

// reconcileRelaySessions ends the records of live sessions on the relay that it no longer
// holds, once they are older than a ticket's lifetime plus unpairedGrace, and orders the end,
// again, of the sessions it holds whose end is recorded.
func (s *Server) reconcileRelaySessions(ctx context.Context, relayID string, held []string, now time.Time) error {
	holds := make(map[string]bool, len(held))
	for _, id := range held {
		holds[id] = true
	}
	// A session started after the cutoff may still be on its way to the relay: only older ones
	// are read (a report costs the relay's long-lived sessions, not every connect just granted).
	cutoff := now.Add(-s.cfg.TicketTTL - unpairedGrace)
	err := s.cfg.Store.EachLiveSessionPage(ctx, store.LiveFilter{RelayID: relayID, StartedUntil: cutoff}, func(page []store.Session) error {
		var gone []string
		for _, sess := range page {
			if holds[sess.ID] {
				continue
			}
			s.cfg.Logger.Info("session record ended: its relay no longer holds it", "session_id", sess.ID, "relay_id", relayID)
			gone = append(gone, sess.ID)
		}
		return s.cfg.Store.EndSessions(ctx, gone, now, reasonNotHeld)
	})
	if err != nil {
		return err
	}
	ended, err := s.cfg.Store.EndedSessionsAmong(ctx, held)
	if err != nil {
		return fmt.Errorf("sessions the relay holds: %w", err)
	}
	s.orderEndAgain(ctx, slices.DeleteFunc(ended, func(sess store.Session) bool { return sess.RelayID != relayID }))
	return nil
}

// orderEndAgain orders the end of sessions whose end is recorded but that their relay still
// holds, with the reason recorded: the first order reached the relay before the session did,
// or was lost.
func (s *Server) orderEndAgain(ctx context.Context, sessions []store.Session) {
	for reason, same := range groupByEndReason(sessions) {
		s.cfg.Logger.Warn("a relay holds sessions whose end is recorded; ordering their end again", "sessions", len(same), "reason", reason)
		s.orderEnd(ctx, same, reason)
	}
}

// groupByEndReason returns sessions by their recorded end reason.
func groupByEndReason(sessions []store.Session) map[string][]store.Session {
	by := map[string][]store.Session{}
	for _, sess := range sessions {
		by[sess.EndReason] = append(by[sess.EndReason], sess)
	}
	return by
}

// sessionIDs returns the sessions' ids, in order.
func sessionIDs(sessions []store.Session) []string {
	ids := make([]string, len(sessions))
	for i, sess := range sessions {
		ids[i] = sess.ID
	}
	return ids
}
