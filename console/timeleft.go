package console

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/portcullis/portcullis/api"
)

// Bounds of the sessions' maximum durations a Console reads and remembers.
const (
	// maxLimits bounds the maximum durations remembered.
	maxLimits = 10000
	// maxLimitReads bounds the decision records one Sessions page (or refresh) reads; the
	// others' time left shows on a later refresh.
	maxLimitReads = 20
)

// sessionLimit is a live session's end as its maximum duration sets it.
type sessionLimit struct {
	// Ends is when the relay and the Host cut the session; zero when nothing does.
	Ends time.Time
	// Known is false when the record of the decision that allowed the session could not be
	// read (not allowed, or the obligation masked), or is not read yet (Pending).
	Known bool
	// Pending is set when the page read its maxLimitReads records before this session's.
	Pending bool
}

// limits remembers each session's maximum duration by user and decision: it is the
// max_duration_seconds obligation of the decision that allowed the session, read once
// through the API (GET /v1/decisions/{id}, as the user), since records never change.
type limits struct {
	mu sync.Mutex
	m  map[string]time.Duration // -1: unknown
}

// maxDuration returns the session's maximum duration (0: none), false when unknown; it reads
// the session's decision record unless remembered, and then only while *reads is positive.
func (c *Console) maxDuration(r *http.Request, u user, s api.Session, reads *int) (d time.Duration, known, pending bool) {
	key := u.claims.Subject + "\x00" + s.DecisionID
	c.limits.mu.Lock()
	d, ok := c.limits.m[key]
	c.limits.mu.Unlock()
	if !ok && *reads <= 0 {
		return 0, false, true
	}
	if !ok {
		*reads--
		d = c.readMaxDuration(r, u, s.DecisionID)
		c.limits.mu.Lock()
		if c.limits.m == nil || len(c.limits.m) >= maxLimits {
			c.limits.m = map[string]time.Duration{}
		}
		c.limits.m[key] = d
		c.limits.mu.Unlock()
	}
	return max(d, 0), d >= 0, false
}

// readMaxDuration reads the max_duration_seconds obligation of a decision's record; -1 when
// it cannot.
func (c *Console) readMaxDuration(r *http.Request, u user, decisionID string) time.Duration {
	var d api.Decision
	if decisionID == "" || c.call(r, u, http.MethodGet, api.PathDecisions+"/"+url.PathEscape(decisionID), nil, nil, &d) != nil {
		return -1
	}
	res, _ := d.Result.(map[string]any)
	obl, _ := res["obligations"].(map[string]any)
	secs, ok := obl["max_duration_seconds"].(float64)
	if !ok || secs < 0 {
		return -1
	}
	return time.Duration(secs) * time.Second
}

// limitOf is a live session's end: the one the API gives, or, for a session recorded before
// the store kept it, its decision's; reads is the page's budget of decision records to read.
func (c *Console) limitOf(r *http.Request, u user, s api.Session, reads *int) sessionLimit {
	if s.MaxDurationSeconds != nil {
		if s.EndsAt == nil {
			return sessionLimit{Known: true}
		}
		return sessionLimit{Ends: *s.EndsAt, Known: true}
	}
	d, ok, pending := c.maxDuration(r, u, s, reads)
	if !ok {
		return sessionLimit{Pending: pending}
	}
	if d == 0 {
		return sessionLimit{Known: true}
	}
	return sessionLimit{Ends: s.StartedAt.Add(d), Known: true}
}

// timeLeft is what a page shows of a session's end at now: "1h02m03s", "ending", "no limit",
// "unknown" or "…" (not read yet).
func timeLeft(l sessionLimit, now time.Time) string {
	switch {
	case l.Pending:
		return "…"
	case !l.Known:
		return "unknown"
	case l.Ends.IsZero():
		return "no limit"
	}
	left := l.Ends.Sub(now).Truncate(time.Second)
	if left <= 0 {
		return "ending"
	}
	h, m, s := int(left.Hours()), int(left.Minutes())%60, int(left.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
