package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/store"
)

// decisionParams are the query parameters GET /v1/decisions takes.
func decisionParams() []string {
	return []string{api.QuerySubject, api.QueryHost, api.QueryAllow, api.QuerySince, api.QueryUntil, api.QueryReason, api.QueryLimit, api.QueryCursor}
}

// handleListDecisions answers GET /v1/decisions: one page of the decision log, filtered, for
// callers the policy lets query it (action query_decisions). Every query is itself decided
// and recorded, refused or not, with its filters.
func (s *Server) handleListDecisions(w http.ResponseWriter, r *http.Request) {
	var f store.DecisionFilter
	_, ok := s.gate(w, r, logOp(opQueryDecisions, "", decisionParams()...), func(c *apiCall) error {
		var err error
		f, err = decisionFilter(c.query)
		return err
	})
	if !ok {
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
	page, err := boundedPage(ds, next, api.MaxPageBytes)
	if err != nil {
		s.cfg.Logger.Error("encode decisions", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "cannot encode the decision records"})
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// rawDecisionPage is api.DecisionPage with its records already encoded.
type rawDecisionPage struct {
	Decisions []json.RawMessage `json:"decisions"`
	Next      string            `json:"next,omitempty"`
}

// boundedPage encodes the records of a page whose next page starts at next, cut to maxBytes
// of JSON as boundedItems cuts a page.
func boundedPage(ds []store.Decision, next string, maxBytes int) (rawDecisionPage, error) {
	records, next, err := boundedItems(ds, next, func(d store.Decision) any { return decisionView(d) }, store.DecisionCursor, maxBytes)
	if err != nil {
		return rawDecisionPage{}, fmt.Errorf("encode decisions: %w", err)
	}
	return rawDecisionPage{Decisions: records, Next: next}, nil
}

// decisionFilter reads the query parameters of GET /v1/decisions; a requestError names every
// malformed one.
func decisionFilter(q url.Values) (store.DecisionFilter, error) {
	f := store.DecisionFilter{
		Subject: q.Get(api.QuerySubject), HostName: q.Get(api.QueryHost),
		Reason: q.Get(api.QueryReason), After: q.Get(api.QueryCursor),
	}
	var bad []string
	if v := q.Get(api.QueryAllow); v != "" {
		allow, err := strconv.ParseBool(v)
		if err != nil {
			bad = append(bad, api.QueryAllow+" must be true or false")
		}
		f.Allow = &allow
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{api.QuerySince, &f.Since}, {api.QueryUntil, &f.Until}} {
		if v := q.Get(p.name); v != "" {
			var err error
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				bad = append(bad, p.name+" must be an RFC 3339 time")
			}
		}
	}
	if v := q.Get(api.QueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxDecisionLimit {
			bad = append(bad, fmt.Sprintf("%s must be 1 to %d", api.QueryLimit, store.MaxDecisionLimit))
		}
		f.Limit = n
	}
	if f.After != "" && store.CheckCursor(f.After) != nil {
		bad = append(bad, api.QueryCursor+" must be the next of a previous page")
	}
	if len(bad) > 0 {
		return f, requestError(strings.Join(bad, "; "))
	}
	return f, nil
}

// handleGetDecision answers GET /v1/decisions/{id}. Anyone reads their own records (as their
// subject may see them: subjectView); reading another user's needs the policy's
// query_decisions, decided and recorded whether the record exists or not, so that a caller
// without it cannot tell.
func (s *Server) handleGetDecision(w http.ResponseWriter, r *http.Request) {
	var d store.Decision
	c, ok := s.gate(w, r, logOp(opReadDecision, "id"), func(c *apiCall) error {
		var err error
		d, err = s.cfg.Store.GetDecision(r.Context(), c.target)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c.missing = "no such decision"
			return nil
		case err != nil:
			return fmt.Errorf("get decision: %w", err)
		}
		c.own = d.Subject == c.claims.Subject
		return nil
	})
	if !ok {
		return
	}
	if c.own {
		d = subjectView(d)
	}
	writeJSON(w, http.StatusOK, decisionView(d))
}

// decisionView renders a stored decision record for the API: the OPA decision-log event the
// CM also ships.
func decisionView(d store.Decision) api.Decision { return logship.Event(d) }

// subjectView is a decision record as its own subject may read it without the right to read
// the decision log: nothing about other tenants. The relay choice's reason is the one the
// Guest was shown (the whole one names other tenants' private relays), and the policy input
// lists no other tenant's private relay. A record whose input cannot be read keeps none.
func subjectView(d store.Decision) store.Decision {
	labels := maps.Clone(d.Labels)
	delete(labels, labelRelayReason)
	if shown, ok := labels[labelRelayReasonShown]; ok {
		labels[labelRelayReason] = shown
		delete(labels, labelRelayReasonShown)
	}
	d.Labels = labels
	d.Input = withoutOtherTenantsRelays(d.Input)
	return d
}

// withoutOtherTenantsRelays removes from a recorded policy input's context.relays every private
// relay whose owner is not the input's host's tenant; it returns {} for an input it cannot read.
func withoutOtherTenantsRelays(raw json.RawMessage) json.RawMessage {
	var in map[string]any
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return json.RawMessage(`{}`)
	}
	host, _ := in["host"].(map[string]any)
	tenant, _ := host["tenant"].(string)
	ctx, _ := in["context"].(map[string]any)
	relays, ok := ctx["relays"].([]any)
	if !ok {
		return raw
	}
	kept := make([]any, 0, len(relays))
	for _, rel := range relays {
		m, _ := rel.(map[string]any)
		private, _ := m["private"].(bool)
		owner, _ := m["owner"].(string)
		if m != nil && (!private || owner == tenant) {
			kept = append(kept, rel)
		}
	}
	ctx["relays"] = kept
	out, err := json.Marshal(in)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}
