package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// handleListDecisions answers GET /v1/decisions: one page of the decision log, filtered, for
// callers the policy lets query it (action query_decisions). Every query is itself decided
// and recorded, refused or not.
func (s *Server) handleListDecisions(w http.ResponseWriter, r *http.Request) {
	f, err := decisionFilter(r.URL.Query())
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	if _, ok := s.authorize(w, r, policy.ActionQueryDecisions); !ok {
		return
	}
	ds, next, err := s.cfg.Store.ListDecisions(r.Context(), f)
	switch {
	case errors.Is(err, store.ErrInvalid):
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: "invalid cursor"})
		return
	case err != nil:
		s.cfg.Logger.Error("list decisions", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	page := api.DecisionPage{Decisions: make([]api.Decision, 0, len(ds)), Next: next}
	for _, d := range ds {
		page.Decisions = append(page.Decisions, decisionView(d))
	}
	writeJSON(w, http.StatusOK, page)
}

// decisionFilter reads the query parameters of GET /v1/decisions.
func decisionFilter(q url.Values) (store.DecisionFilter, error) {
	f := store.DecisionFilter{
		Subject: q.Get(api.QuerySubject), HostName: q.Get(api.QueryHost),
		Reason: q.Get(api.QueryReason), After: q.Get(api.QueryCursor),
	}
	var errs []error
	if v := q.Get(api.QueryAllow); v != "" {
		allow, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s must be true or false", api.QueryAllow))
		}
		f.Allow = &allow
	}
	for name, t := range map[string]*time.Time{api.QuerySince: &f.Since, api.QueryUntil: &f.Until} {
		if v := q.Get(name); v != "" {
			var err error
			if *t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				errs = append(errs, fmt.Errorf("%s must be an RFC 3339 time", name))
			}
		}
	}
	if v := q.Get(api.QueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxDecisionLimit {
			errs = append(errs, fmt.Errorf("%s must be 1 to %d", api.QueryLimit, store.MaxDecisionLimit))
		}
		f.Limit = n
	}
	return f, errors.Join(errs...)
}

// handleGetDecision answers GET /v1/decisions/{id}. Anyone reads their own records; reading
// another user's needs the policy's query_decisions (decided and recorded), and a caller
// without it cannot tell whether the record exists.
func (s *Server) handleGetDecision(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	d, err := s.cfg.Store.GetDecision(r.Context(), r.PathValue("id"))
	notFound := errors.Is(err, store.ErrNotFound)
	if err != nil && !notFound {
		s.cfg.Logger.Error("get decision", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	if notFound || d.Subject != claims.Subject {
		verdict, err := s.access(r, claims, policy.ActionQueryDecisions)
		if err != nil {
			s.decisionLogDown(w, err)
			return
		}
		if notFound || !verdict.Allow {
			writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such decision"})
			return
		}
	}
	writeJSON(w, http.StatusOK, decisionView(d))
}

// decisionView renders a stored decision record for the API, with OPA's event field names.
func decisionView(d store.Decision) api.Decision {
	return api.Decision{
		ID: d.ID, Time: d.Time, Path: d.Path, Subject: d.Subject, HostID: d.HostID, HostName: d.HostName,
		Allow: d.Allow, Reasons: d.Reasons, Input: json.RawMessage(d.Input), Result: json.RawMessage(d.Result),
		Revision: d.Revision, Metrics: map[string]int64{api.MetricEvalNS: d.EvalNS}, Labels: d.Labels,
	}
}
