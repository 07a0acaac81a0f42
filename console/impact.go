package console

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
)

// Bounds of a policy impact run.
const (
	// impactTimeout bounds compiling the candidate and replaying the records.
	impactTimeout = 2 * time.Minute
	// defaultImpactWindow is the time range replayed when the form names none.
	defaultImpactWindow = 7 * 24 * time.Hour
	// maxShownChanges bounds the flips a page lists (all are counted).
	maxShownChanges = 500
)

// impactView is the result of a policy impact run.
type impactView struct {
	Revision         string
	Since, Until     string
	Replayed         int
	Skipped          int
	Counts           map[string]int
	Changes          []policy.Change
	Truncated        int
	Error            string
	CSRF             string
	DefaultSince     string
	ShowImpactResult bool
	// Tests counts the candidate's Rego tests, which all passed.
	Tests int
	// Pasted is set when the candidate was pasted: records of a decision no pasted module
	// makes are skipped.
	Pasted bool
	// Module and TestModule are the pasted modules, shown again in the form.
	Module, TestModule string
}

// handleImpact replays the decision log of a time range against a candidate policy, pasted or
// uploaded,
// as `policy impact` does: the records are read through the API (each page a decisions.query
// call the log records), so only those who may query the log may run it.
func (c *Console) handleImpact(w http.ResponseWriter, r *http.Request, u user) {
	v := impactView{ShowImpactResult: true, Since: r.PostFormValue("since"), Until: r.PostFormValue("until"),
		Module: r.PostFormValue(fieldModule), TestModule: r.PostFormValue(fieldTestModule)}
	st, e := c.policyStatus(r, u)
	if e != nil {
		c.refused(w, r, u, "policy", e)
		return
	}
	q, bad := logFilter{Since: v.Since, Until: v.Until}.query()
	if bad == "" && v.Since == "" {
		q.Set(api.QuerySince, c.cfg.Now().Add(-defaultImpactWindow).UTC().Format(time.RFC3339))
	}
	if bad != "" {
		v.Error = bad
		c.renderPolicy(w, r, u, st, v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), impactTimeout)
	defer cancel()
	cand, err := c.candidate(ctx, r)
	if err != nil {
		v.Error = err.Error()
		c.renderPolicy(w, r, u, st, v)
		return
	}
	v.Revision, v.Tests, v.Pasted = cand.engine.Revision(), cand.tests, cand.pasted
	rep, err := policy.Impact(ctx, cand.engine, cand.replayed(policy.RecordedDecisions(c.records(r.WithContext(ctx), u, q))))
	if err != nil {
		v.Error = err.Error()
		c.renderPolicy(w, r, u, st, v)
		return
	}
	v.Replayed, v.Skipped, v.Counts, v.Changes = rep.Replayed, rep.Skipped, rep.Counts, rep.Changes
	if len(v.Changes) > maxShownChanges {
		v.Truncated, v.Changes = len(v.Changes)-maxShownChanges, v.Changes[:maxShownChanges]
	}
	c.renderPolicy(w, r, u, st, v)
}

// records reads every record of the query, page by page, through the API.
func (c *Console) records(r *http.Request, u user, q url.Values) iter.Seq2[api.Decision, error] {
	return func(yield func(api.Decision, error) bool) {
		q := maps(q)
		q.Set(api.QueryLimit, strconv.Itoa(exportPage))
		for {
			var pg api.DecisionPage
			if e := c.call(r, u, http.MethodGet, api.PathDecisions, q, nil, &pg); e != nil {
				yield(api.Decision{}, e)
				return
			}
			for _, d := range pg.Decisions {
				if !yield(d, nil) {
					return
				}
			}
			if pg.Next == "" {
				return
			}
			q.Set(api.QueryCursor, pg.Next)
		}
	}
}

// maps copies a query.
func maps(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
