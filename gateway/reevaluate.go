package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// Revocation modes: what ReevaluateLive does with a live session the policy now denies.
const (
	// RevokeEnd ends the session at the CS and the Host.
	RevokeEnd = "end"
	// RevokeWarn leaves the session running, logs a warning and records the denial.
	RevokeWarn = "warn"
)

// labelReevaluated marks a decision record made by re-evaluating a live session; its value is
// the session id.
const labelReevaluated = "reevaluated_session"

// policyChanges returns the channel closed at src's next roll-out of a new policy when src
// announces them (a policy.Manager), else nil (Run then notices a reload within runTick).
func policyChanges(src policy.Source) <-chan struct{} {
	if n, ok := src.(policy.Notifier); ok {
		return n.Changed()
	}
	return nil
}

// liveCheck is livePasses' record of its passes over the live sessions: the policy the last
// complete pass ran under, and when a pass that failed may be tried again. A failed pass is
// retried a tick later, then at twice the wait each time up to the periodic interval: a store
// that keeps failing part of a pass (a record it cannot read) does not get a whole pass every
// second.
type liveCheck struct {
	// serving is the policy of the last complete pass; nil before the first one and after a
	// failed one: a pass is due (at the start, under a policy that may have changed while the
	// CM was down).
	serving *policy.Engine
	retryAt time.Time // a failed pass is not tried again before then
	backoff backoff.ExponentialBackOff
}

// newLiveCheck returns the record of a Run whose periodic pass comes every interval.
func newLiveCheck(interval time.Duration) *liveCheck {
	return &liveCheck{backoff: backoff.ExponentialBackOff{InitialInterval: runTick, Multiplier: 2, MaxInterval: interval}}
}

// due reports whether a pass is due at now under current: the policy changed since the last
// complete pass, or none completed and the wait after a failed one is over.
func (c *liveCheck) due(current *policy.Engine, now time.Time) bool {
	return current != c.serving && !now.Before(c.retryAt)
}

// settle notes the outcome, at now, of a pass begun under engine.
func (c *liveCheck) settle(engine *policy.Engine, err error, now time.Time) {
	if err == nil {
		c.serving, c.retryAt = engine, time.Time{}
		c.backoff.Reset()
		return
	}
	c.serving, c.retryAt = nil, now.Add(c.backoff.NextBackOff())
}

// recheckLive re-evaluates the live sessions while this replica holds the lease: when c says a
// pass is due, or always when forced (the periodic pass, taking the lease over). A replica
// without the lease only refreshes its cache of them when forced (which lets a lock end
// sessions while the store is down), and keeps c as it is, so that on taking the lease over it
// re-evaluates under a policy that changed meanwhile.
func (s *Server) recheckLive(ctx context.Context, c *liveCheck, forced bool) {
	if !s.lease.held() {
		if forced {
			if err := s.refreshLive(ctx); err != nil {
				s.cfg.Logger.Warn("refresh the cache of live sessions", "err", err)
			}
		}
		return
	}
	engine := s.cfg.Policy.Current()
	if !forced {
		if !c.due(engine, time.Now()) {
			return
		}
		s.cfg.Logger.Info("re-evaluating live sessions under a policy they were not yet re-evaluated under",
			"revision", engine.Revision(), "first", c.serving == nil)
	}
	_, err := s.ReevaluateLive(ctx)
	if err != nil {
		s.cfg.Logger.Warn("re-evaluate live sessions", "err", err)
	}
	c.settle(engine, err, time.Now())
}

// ReevaluateLive re-decides every live session — the input recorded when it was allowed, at the
// current time and with the Host's current record — against the current policy. Sessions now
// denied end at the CS and the Host (Config.Revocation "end") or are only logged ("warn");
// either way the denial is committed to the decision log. A pass that could not read the locks
// in force, or a session's record, does the rest and then returns an error with its result,
// so that the caller tries again.
func (s *Server) ReevaluateLive(ctx context.Context) (api.Reevaluation, error) {
	var missed []error
	// One read of the locks in force for the whole pass; when they cannot be read, the pass
	// re-decides without them and fails (connects still refuse, failing closed, on their own read).
	locks, err := s.locksInForce(ctx, s.cfg.Now())
	if err != nil {
		s.cfg.Logger.Error("re-evaluate: read locks", "err", err)
		missed = append(missed, fmt.Errorf("read the locks in force: %w", err))
	}
	res := api.Reevaluation{Ended: []string{}, Warned: []string{}}
	// Every live session, paged through the store without a cap; those still live after the
	// pass become the cache of live sessions.
	live := map[string]store.Session{}
	skipped := 0
	var skipErr error
	ends := &revocations{s: s, pass: ctx, res: &res}
	err = s.cfg.Store.EachLiveSessionPage(ctx, store.LiveFilter{}, func(page []store.Session) error {
		reads := s.readForReevaluation(ctx, page)
		for _, sess := range page {
			res.Checked++
			ending, err := s.reevaluateOne(ctx, locks, sess, reads, ends)
			if err != nil {
				skipped, skipErr = skipped+1, err
			}
			if !ending {
				live[sess.ID] = sess
			}
			if ends.due() {
				ends.flush()
			}
		}
		ends.flush()
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("gateway: re-evaluate: %w", err)
	}
	s.live.replaceMap(live)
	if skipped > 0 {
		missed = append(missed, fmt.Errorf("%d of %d live sessions not re-decided: %w", skipped, res.Checked, skipErr))
	}
	if len(missed) > 0 {
		return res, fmt.Errorf("gateway: re-evaluate: %w", errors.Join(missed...))
	}
	return res, nil
}

// reevaluateOne re-decides one live session under the locks in force; it hands a denial to
// ends (which commits its record and ends the session, or only warns, as Config.Revocation
// says), and reports whether the session is ending. An error says it could not be re-decided
// (its record could not be read), and it stays live.
func (s *Server) reevaluateOne(ctx context.Context, locks lockIndex, sess store.Session, reads pageReads, ends *revocations) (bool, error) {
	if locked := lockedSession(locks, sess); locked != "" {
		ends.end(sess, locked) // a lock always ends
		return true, nil
	}
	denied, err := s.reevaluate(ctx, sess, reads)
	if err != nil || denied == nil {
		return false, err
	}
	ends.commit(denied.record)
	if s.cfg.Revocation == RevokeWarn {
		s.cfg.Logger.Warn("live session is now denied by the policy; left running (revocation: warn)", "session_id", sess.ID, "reasons", denied.reasons)
		ends.res.Warned = append(ends.res.Warned, sess.ID)
		return false, nil
	}
	ends.end(sess, api.ReasonPrefixRevoked+strings.Join(denied.reasons, "; "))
	return true, nil
}

// lockIndex holds the locks in force by what they lock, the newest on each target.
type lockIndex map[store.LockTarget]store.Lock

// locksInForce reads every lock in force at now, however many there are; on an error, none.
func (s *Server) locksInForce(ctx context.Context, now time.Time) (lockIndex, error) {
	locks := lockIndex{}
	err := s.cfg.Store.EachActiveLock(ctx, now, func(l store.Lock) error {
		locks[store.LockTarget{Kind: l.Kind, Target: l.Target}] = l // oldest first: the newest stays
		return nil
	})
	if err != nil {
		return nil, err
	}
	return locks, nil
}

// lockedSession returns the end reason of the newest lock in locks (those in force) on the
// session, its user or its Host, or "". It catches a session that a lock could not end when it
// was made.
func lockedSession(locks lockIndex, sess store.Session) string {
	var newest *store.Lock
	for _, t := range []store.LockTarget{{Kind: store.LockSession, Target: sess.ID},
		{Kind: store.LockUser, Target: sess.Subject}, {Kind: store.LockHost, Target: sess.HostName}} {
		if l, ok := locks[t]; ok && (newest == nil || l.CreatedAt.After(newest.CreatedAt)) {
			newest = &l
		}
	}
	if newest == nil {
		return ""
	}
	return api.ReasonPrefixLocked + newest.Reason
}

// pageReads is what the re-decisions of a page of live sessions read from the store at once:
// the policy input of their records and the current record of their Hosts.
type pageReads struct {
	inputs map[string]json.RawMessage // by record id: a record missing here does not exist
	hosts  map[string]store.Host      // by Host id: a Host missing here keeps its recorded facts
	err    error                      // the inputs could not be read: the page is not re-decided
}

// readForReevaluation reads what the re-decisions of page need; a Host record that cannot be
// read leaves the Hosts' facts as recorded, as a Host that no longer exists does.
func (s *Server) readForReevaluation(ctx context.Context, page []store.Session) pageReads {
	records, hosts := make([]string, len(page)), make([]string, len(page))
	for i, sess := range page {
		records[i], hosts[i] = sess.DecisionID, sess.HostID
	}
	inputs, err := s.cfg.Store.DecisionInputs(ctx, records)
	if err != nil {
		s.cfg.Logger.Error("re-evaluate: load decision records", "sessions", len(page), "err", err)
		return pageReads{err: err}
	}
	byID, err := s.cfg.Store.HostsByID(ctx, hosts)
	if err != nil {
		s.cfg.Logger.Warn("re-evaluate: load hosts; their recorded facts are used", "err", err)
	}
	return pageReads{inputs: inputs, hosts: byID}
}

// denial is a re-decision that denies a live session: its reasons, and its record, signed and
// ready to commit (nil when it could not be made: the session is denied all the same).
type denial struct {
	reasons []string
	record  *store.Decision
}

// reevaluate re-decides one live session; it returns the denial when the policy now denies it
// (a missing or unreadable record or a failing policy denies: fail closed), nil when it
// allows. It returns an error, and decides nothing, when the store could not say whether the
// session's record exists, or when ctx ended during the decision: the pass fails, and its
// caller tries again.
func (s *Server) reevaluate(ctx context.Context, sess store.Session, reads pageReads) (*denial, error) {
	now := s.cfg.Now()
	if reads.err != nil {
		return nil, fmt.Errorf("session %s: load its decision record: %w", sess.ID, reads.err)
	}
	input, found := reads.inputs[sess.DecisionID]
	engine := s.cfg.Policy.Current()
	var in policy.Input
	var res policy.Result
	var err error
	switch {
	case !found: // no record: what the session was allowed on cannot be decided again
		s.cfg.Logger.Warn("re-evaluate: the session's decision has no record", "session_id", sess.ID, "decision_id", sess.DecisionID)
		in = policy.Input{Subject: policy.Subject{ID: sess.Subject}, Host: policy.Host{ID: sess.HostID, Name: sess.HostName},
			Request: policy.Request{Action: policy.ActionConnect, Channels: sess.Channels}, Context: policy.Context{Time: now}}
		res = denyResult(reasonNoRecord)
	case json.Unmarshal(input, &in) != nil:
		res = denyResult("recorded policy input is unreadable (fail closed)")
	default:
		in.Context.Time = now
		if h, ok := reads.hosts[sess.HostID]; ok {
			in.Host.Tags, in.Host.Tenant, in.Host.OS = h.Tags, h.Tenant, h.OS
		}
		res, err = engine.Decide(ctx, in)
		if err != nil && ctx.Err() != nil { // the pass was stopped (the CM shuts down): not a policy failure
			return nil, fmt.Errorf("session %s: the pass stopped: %w", sess.ID, context.Cause(ctx))
		}
		if err != nil {
			s.cfg.Logger.Error("re-evaluate: policy evaluation", "session_id", sess.ID, "err", err)
			res = denyResult(reasonPolicyFailure)
		}
	}
	if res.Decision.Allow {
		return nil, nil
	}
	rec, err := s.signedRecord(ctx, &logEntry{
		engine: engine, now: now, path: policy.DecisionPath, subject: sess.Subject, hostID: sess.HostID, hostName: sess.HostName,
		input: in, result: res, labels: map[string]string{labelReevaluated: sess.ID},
	})
	if err != nil {
		s.cfg.Logger.Error("re-evaluate: make decision record", "session_id", sess.ID, "err", err)
		return &denial{reasons: res.Decision.Reasons}, nil // denied all the same (fail closed)
	}
	return &denial{reasons: rec.Reasons, record: &rec}, nil
}

func (s *Server) handleReevaluate(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.gate(w, r, adminOp(opReevaluate, ""), nil); !ok {
		return
	}
	res, err := s.ReevaluateLive(r.Context())
	if err != nil {
		s.storeUnavailable(w, "re-evaluate live sessions", err)
		return
	}
	writeJSON(w, http.StatusOK, res.Bounded())
}
