package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// maxLockReason bounds a lock's reason, which refused users see.
const maxLockReason = 500

// maxLockTTL bounds a lock's time to live: ten years, far inside what time.Duration holds
// (a larger ttl_seconds would wrap around into a lock that expired before it was made).
// A lock meant to last is made without a ttl.
const maxLockTTL = 10 * 365 * 24 * time.Hour

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
	s.locksMade.Add(1) // after the lock is stored, before the live sessions are swept
	s.cfg.Logger.Info("lock created", "lock_id", l.ID, "kind", l.Kind, "target", l.Target, "by", claims.Subject, "reason", l.Reason, "decision_id", c.decisionID)
	view := lockView(l, now)
	// The lock is recorded: its sessions end even if the caller goes away meanwhile.
	ended, err := s.endSessionsLockedBy(context.WithoutCancel(ctx), l)
	if err != nil {
		s.cfg.Logger.Error("end locked sessions; the next re-evaluation ends the rest", "lock_id", l.ID, "ended", len(ended), "err", err)
	}
	view.EndedCount = len(ended)
	view.EndedSessions, view.EndedSessionsTruncated = api.ListedSessions(ended)
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
	case req.TTLSeconds > int64(maxLockTTL/time.Second):
		return store.Lock{}, badRequest("ttl must be at most %d seconds (ten years); a lock without a ttl lasts until it is removed", int64(maxLockTTL/time.Second))
	}
	if err := checkLockTarget(targets[0]); err != nil {
		return store.Lock{}, err
	}
	return store.Lock{Kind: targets[0].Kind, Target: targets[0].Target, Reason: reason}, nil
}

// checkLockTarget refuses a target no connect could ever match, which would be stored as a
// lock in force that stops nothing: a host must be named as Hosts name themselves (lower
// case: "WEB-1" is not web-1), and no target may carry spaces or control characters around
// or in it.
func checkLockTarget(t store.LockTarget) error {
	if strings.ContainsFunc(t.Target, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return badRequest("the %s to lock must not contain spaces or control characters: %q", t.Kind, t.Target)
	}
	if t.Kind == store.LockHost && !hostNamePattern.MatchString(t.Target) {
		return badRequest("host %q is not a host name (lower-case letters, digits, '.' and '-'), so no Host has it", t.Target)
	}
	return nil
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

// lockTargets are what a connect's locks are read for: its user and the Host it names.
func (a *connectAttempt) lockTargets() []store.LockTarget {
	return []store.LockTarget{{Kind: store.LockUser, Target: a.claims.Subject}, {Kind: store.LockHost, Target: a.req.Host}}
}

// lockedMeanwhile reads the locks on an allowed connect's user and Host again once its session
// is committed, if a lock may have been made since the connect first read them: by this
// replica (locksMade moved on) or, on a store that replicas share, by any. Such a lock swept
// the live sessions before this one was committed, after the connect had read the locks
// without it, so without this second read the session would run until the next
// re-evaluation. Whichever of the two comes second sees the other: a lock made before this
// read is found here, one made after it sweeps a committed session. When a lock is in force
// (or the locks cannot be read: fail closed) it ends the session, refuses the Guest and returns
// true; the decision record stays what the policy decided.
func (s *Server) lockedMeanwhile(ctx context.Context, w http.ResponseWriter, a *connectAttempt, sess store.Session, decisionID string) bool {
	if !s.cfg.Store.SharedByReplicas() && s.locksMade.Load() == a.locksMade {
		return false
	}
	_, locks, err := s.cfg.Store.HostAndLocks(ctx, "", s.cfg.Now(), a.lockTargets()...)
	reasons := s.pending.lockReasons(a.claims.Subject, a.req.Host)
	for _, l := range locks {
		reasons = append(reasons, api.ReasonPrefixLocked+l.Reason)
	}
	switch {
	case err != nil:
		s.cfg.Logger.Error("read the locks again after the session committed; refusing (fail closed)", "session_id", sess.ID, "err", err)
		s.endSessions(context.WithoutCancel(ctx), []store.Session{sess}, string(access.ErrUnavailable))
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable; refusing (fail closed)", DecisionID: decisionID})
	case len(reasons) > 0:
		s.endSessions(context.WithoutCancel(ctx), []store.Session{sess}, reasons[0])
		writeError(w, api.Error{Code: access.ErrDenied, Message: "locked while the connection was decided", Reasons: reasons, DecisionID: decisionID})
	default:
		return false
	}
	return true
}
