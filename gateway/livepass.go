package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// A pass over the live sessions walks them a page at a time. A pass that enforces something
// new (the first one, a policy change, taking the lease over, the API's) runs at once, page
// after page. The periodic pass enforces nothing the last complete one did not (the policy is
// the same; the end of a time window also ends its sessions by their time limit), so Run walks
// it for at most periodicBudget at each of its ticks: with tens of thousands of live sessions it
// takes a quarter of a CPU for a while instead of all of one at once, beside the connects, and
// Run's other work (the log's sequencer, presence, a policy change's pass) goes on meanwhile.

// periodicBudget is how long Run walks the periodic pass at each of its ticks (runTick).
const periodicBudget = runTick / 4

// livePass is a pass over the live sessions under way.
type livePass struct {
	engine  *policy.Engine // the policy when the pass began
	locks   lockIndex      // the locks in force when it began
	missed  []error
	res     api.Reevaluation
	live    map[string]store.Session // the sessions still live after their re-decision
	skipped int
	skipErr error
	after   *store.Session // the last session walked; nil before the first page
	done    bool
}

// beginPass begins a pass: it reads the locks in force once for the whole pass; when they
// cannot be read, the pass re-decides without them and fails (connects still refuse, failing
// closed, on their own read).
func (s *Server) beginPass(ctx context.Context) *livePass {
	p := &livePass{engine: s.cfg.Policy.Current(), res: api.Reevaluation{Ended: []string{}, Warned: []string{}}, live: map[string]store.Session{}}
	locks, err := s.locksInForce(ctx, s.cfg.Now())
	if err != nil {
		s.cfg.Logger.Error("re-evaluate: read locks", "err", err)
		p.missed = append(p.missed, fmt.Errorf("read the locks in force: %w", err))
	}
	p.locks = locks
	return p
}

// stepPass re-decides the next page of p's sessions (the oldest first, without a cap: a session
// that starts during the walk is visited when it sorts after the walk's position); p.done once
// the last page is. An error ends the pass: the store could not list the sessions.
func (s *Server) stepPass(ctx context.Context, p *livePass) error {
	page, err := s.cfg.Store.LiveSessionPage(ctx, store.LiveFilter{}, p.after)
	if err != nil {
		return fmt.Errorf("gateway: re-evaluate: %w", err)
	}
	reads := s.readForReevaluation(ctx, page)
	for _, sess := range page {
		p.res.Checked++
		ended, err := s.reevaluateOne(ctx, p.locks, sess, reads, &p.res)
		if err != nil {
			p.skipped, p.skipErr = p.skipped+1, err
		}
		if !ended {
			p.live[sess.ID] = sess
		}
	}
	if len(page) < store.LivePageSize {
		p.done = true
	} else {
		p.after = &page[len(page)-1]
	}
	return nil
}

// endPass ends a walked pass: the sessions still live become the cache of live sessions, and
// what it missed is its error.
func (s *Server) endPass(p *livePass) (api.Reevaluation, error) {
	s.live.replaceMap(p.live)
	if p.skipped > 0 {
		p.missed = append(p.missed, fmt.Errorf("%d of %d live sessions not re-decided: %w", p.skipped, p.res.Checked, p.skipErr))
	}
	if len(p.missed) > 0 {
		return p.res, fmt.Errorf("gateway: re-evaluate: %w", errors.Join(p.missed...))
	}
	return p.res, nil
}

// startPeriodic begins the periodic pass, unless one is under way, and walks its first part.
// A replica without the lease only refreshes its cache of the live sessions.
func (s *Server) startPeriodic(ctx context.Context, c *liveCheck) {
	if !s.lease.held() {
		c.periodic = nil
		if err := s.refreshLive(ctx); err != nil {
			s.cfg.Logger.Warn("refresh the cache of live sessions", "err", err)
		}
		return
	}
	if c.periodic == nil {
		c.periodic = s.beginPass(ctx)
	}
	s.stepPeriodic(ctx, c)
}

// stepPeriodic walks the periodic pass under way, if any, for up to periodicBudget, and
// settles c when it ends. A replica that lost the lease drops it.
func (s *Server) stepPeriodic(ctx context.Context, c *liveCheck) {
	p := c.periodic
	if p == nil {
		return
	}
	if !s.lease.held() {
		c.periodic = nil
		return
	}
	start := time.Now()
	var err error
	for !p.done && err == nil && time.Since(start) < periodicBudget {
		err = s.stepPass(ctx, p)
	}
	if err == nil && !p.done {
		return
	}
	c.periodic = nil
	if err == nil {
		_, err = s.endPass(p)
	}
	if err != nil {
		s.cfg.Logger.Warn("re-evaluate live sessions", "err", err)
	}
	c.settle(p.engine, err, time.Now())
}
