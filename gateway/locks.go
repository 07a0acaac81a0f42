package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// maxLockReason bounds a lock's reason, which refused users see.
const maxLockReason = 500

func (s *Server) handleCreateLock(w http.ResponseWriter, r *http.Request) {
	var l store.Lock
	var req api.LockRequest
	authCtx, cancel := context.WithTimeout(r.Context(), emergencyStoreTimeout)
	defer cancel()
	c, ok := s.gate(w, r.WithContext(authCtx), adminOp(opCreateLock, ""), func(c *apiCall) error {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		var err error
		if l, err = lockFromRequest(req); err == nil {
			c.target = l.Kind + ":" + l.Target
		}
		return err
	})
	if !ok {
		return
	}
	claims := c.claims
	now := s.cfg.Now()
	l.ID, l.CreatedBy, l.CreatedAt = newID("lk"), claims.Subject, now
	if req.TTLSeconds > 0 {
		exp := now.Add(time.Duration(req.TTLSeconds) * time.Second)
		l.ExpiresAt = &exp
	}
	ctx := r.Context()
	if err := s.createLock(ctx, l); err != nil {
		s.lockWithoutStore(w, claims, l, err)
		return
	}
	s.cfg.Logger.Info("lock created", "lock_id", l.ID, "kind", l.Kind, "target", l.Target, "by", claims.Subject, "reason", l.Reason, "decision_id", c.decisionID)
	view := lockView(l, now)
	// The lock is recorded: its sessions end even if the caller goes away meanwhile.
	ended, err := s.endSessionsLockedBy(context.WithoutCancel(ctx), l)
	if err != nil {
		s.cfg.Logger.Error("end locked sessions; the next re-evaluation ends the rest", "lock_id", l.ID, "ended", len(ended), "err", err)
	}
	view.EndedSessions = ended
	writeJSON(w, http.StatusCreated, view)
}

// createLock stores l within emergencyStoreTimeout.
func (s *Server) createLock(ctx context.Context, l store.Lock) error {
	ctx, cancel := context.WithTimeout(ctx, emergencyStoreTimeout)
	defer cancel()
	return s.cfg.Store.CreateLock(ctx, l)
}

// lockFromRequest checks a lock request: exactly one target, and a reason.
func lockFromRequest(req api.LockRequest) (store.Lock, error) {
	var targets []store.LockTarget
	for _, t := range []store.LockTarget{{Kind: store.LockUser, Target: req.User}, {Kind: store.LockHost, Target: req.Host}, {Kind: store.LockSession, Target: req.Session}} {
		if t.Target != "" {
			targets = append(targets, t)
		}
	}
	reason := strings.TrimSpace(req.Reason)
	switch {
	case len(targets) != 1:
		return store.Lock{}, badRequest("a lock names exactly one of user, host or session")
	case reason == "":
		return store.Lock{}, badRequest("a lock needs a reason")
	case len(reason) > maxLockReason:
		return store.Lock{}, badRequest("the reason is too long")
	case req.TTLSeconds < 0:
		return store.Lock{}, badRequest("ttl must not be negative")
	}
	return store.Lock{Kind: targets[0].Kind, Target: targets[0].Target, Reason: reason}, nil
}

// endSessionsLockedBy ends every live session that the lock stops, however many (the store is
// paged through, never capped), and returns their ids. On an error it returns those it ended.
func (s *Server) endSessionsLockedBy(ctx context.Context, l store.Lock) ([]string, error) {
	reason := api.ReasonPrefixLocked + l.Reason
	ended := []string{}
	var f store.LiveFilter
	switch l.Kind {
	case store.LockUser:
		f.Subject = l.Target
	case store.LockHost:
		h, err := s.cfg.Store.GetHostByName(ctx, l.Target)
		if errors.Is(err, store.ErrNotFound) {
			return ended, nil
		}
		if err != nil {
			return ended, err
		}
		f.HostID = h.ID
	case store.LockSession:
		sess, err := s.cfg.Store.GetSession(ctx, l.Target)
		if errors.Is(err, store.ErrNotFound) || err == nil && sess.EndedAt != nil {
			return ended, nil
		}
		if err != nil {
			return ended, err
		}
		return s.endSessions(ctx, []store.Session{sess}, reason), nil
	default:
		return ended, nil
	}
	err := s.cfg.Store.EachLiveSessionPage(ctx, f, func(page []store.Session) error {
		ended = append(ended, s.endSessions(ctx, page, reason)...)
		return nil
	})
	return ended, err
}

func (s *Server) handleRemoveLock(w http.ResponseWriter, r *http.Request) {
	c, ok := s.gate(w, r, adminOp(opRemoveLock, "id"), nil)
	if !ok {
		return
	}
	claims := c.claims
	now := s.cfg.Now()
	l, err := s.cfg.Store.RemoveLock(r.Context(), c.target, claims.Subject, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such lock in force", DecisionID: c.decisionID})
		return
	case err != nil:
		s.storeUnavailable(w, "remove lock", err)
		return
	}
	s.cfg.Logger.Info("lock removed", "lock_id", l.ID, "by", claims.Subject, "decision_id", c.decisionID)
	writeJSON(w, http.StatusOK, lockView(l, now))
}

// lockParamAll is GET /v1/locks's parameter: "true" lists removed and expired locks too.
const lockParamAll = "all"

// handleListLocks lists a page of the locks in force (all=true: of every lock, removed and
// expired ones too), newest first, as handleListSessions lists sessions.
func (s *Server) handleListLocks(w http.ResponseWriter, r *http.Request) {
	f := store.LockFilter{Active: true, At: s.cfg.Now()}
	_, ok := s.gate(w, r, adminOp(opListLocks, "", lockParamAll, api.QueryLimit, api.QueryCursor), func(c *apiCall) error {
		var err error
		if f.Limit, f.After, err = pageQuery(c.query); err != nil {
			return err
		}
		if v := c.query.Get(lockParamAll); v != "" {
			all, err := strconv.ParseBool(v)
			if err != nil {
				return badRequest("%s must be true or false", lockParamAll)
			}
			f.Active = !all
		}
		return nil
	})
	if !ok {
		return
	}
	locks, next, err := s.cfg.Store.ListLocks(r.Context(), f)
	if err == nil {
		err = writeArrayPage(w, locks, next, func(l store.Lock) any { return lockView(l, f.At) }, store.LockCursor)
	}
	if err != nil {
		s.storeUnavailable(w, "list locks", err)
	}
}

func lockView(l store.Lock, now time.Time) api.Lock {
	return api.Lock{
		ID: l.ID, Kind: l.Kind, Target: l.Target, Reason: l.Reason, CreatedBy: l.CreatedBy, CreatedAt: l.CreatedAt,
		ExpiresAt: l.ExpiresAt, RemovedBy: l.RemovedBy, RemovedAt: l.RemovedAt, Active: l.ActiveAt(now),
	}
}

// applyLocks turns the attempt into a deny when a lock is in force on its user or host (as read
// with the Host, or pending in this replica's memory), before anything is minted; the decision
// record then carries the lock's reason.
func (s *Server) applyLocks(a *connectAttempt) {
	reasons := s.pending.lockReasons(a.claims.Subject, a.req.Host) // not yet recorded (emergency.go)
	for _, l := range a.locks {
		reasons = append(reasons, api.ReasonPrefixLocked+l.Reason)
	}
	if len(reasons) > 0 {
		a.result, a.path = denyResult(reasons...), cmDecisionPath // the CM's refusal, not the policy's
	}
}
