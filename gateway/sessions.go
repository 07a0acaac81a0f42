package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// Query parameters of GET /v1/sessions.
const (
	sessionParamUser  = "user"
	sessionParamHost  = "host"
	sessionParamRelay = "relay"
	sessionParamLive  = "live"
	// sessionParamDecision keeps the session a decision allowed (its record's session_id).
	sessionParamDecision = "decision"
)

// handleListSessions lists a page of session records, newest first, as a JSON array; when more
// follow, the api.HeaderNextCursor header carries the cursor of the next page. Filters: user,
// host (name), relay, live (true|false), decision (the decision that allowed it), limit (the
// page's size), cursor. Any other parameter is refused (400), never ignored.
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	var f store.SessionFilter
	op := adminOp(opListSessions, "", sessionParamUser, sessionParamHost, sessionParamRelay, sessionParamLive, sessionParamDecision, api.QueryLimit, api.QueryCursor)
	c, ok := s.gate(w, r, op, func(c *apiCall) error {
		var err error
		f, err = sessionFilter(c.query)
		return err
	})
	if !ok {
		return
	}
	ctx := r.Context()
	if name := c.query.Get(sessionParamHost); name != "" {
		h, err := s.cfg.Store.GetHostByName(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusOK, []api.Session{})
			return
		case err != nil:
			s.storeUnavailable(w, "load host", err)
			return
		}
		f.HostID = h.ID
	}
	ss, next, err := s.cfg.Store.ListSessions(ctx, f)
	if err == nil {
		err = writeArrayPage(w, ss, next, func(sess store.Session) any { return sessionView(sess) }, store.SessionCursor)
	}
	if err != nil {
		s.storeUnavailable(w, "list sessions", err)
	}
}

// sessionFilter reads the query's filters; a requestError names a malformed one.
func sessionFilter(q url.Values) (store.SessionFilter, error) {
	f := store.SessionFilter{Subject: q.Get(sessionParamUser), RelayID: q.Get(sessionParamRelay), DecisionID: q.Get(sessionParamDecision)}
	var err error
	if f.Limit, f.After, err = pageQuery(q); err != nil {
		return f, err
	}
	if v := q.Get(sessionParamLive); v != "" {
		live, err := strconv.ParseBool(v)
		if err != nil {
			return f, badRequest("%s must be true or false", sessionParamLive)
		}
		f.Live = &live
	}
	return f, nil
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	c, ok := s.gate(w, r, adminOp(opListSessions, "id"), nil)
	if !ok {
		return
	}
	sess, err := s.cfg.Store.GetSession(r.Context(), c.target)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such session", DecisionID: c.decisionID})
		return
	case err != nil:
		s.storeUnavailable(w, "get session", err)
		return
	}
	writeJSON(w, http.StatusOK, sessionView(sess))
}

// storeUnavailable logs a store failure and answers 503.
func (s *Server) storeUnavailable(w http.ResponseWriter, what string, err error) {
	s.cfg.Logger.Error(what, "err", err)
	writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
}

// sessionView is a stored session as the API shows it, with its end when its maximum
// duration sets one.
func sessionView(s store.Session) api.Session {
	v := api.Session{
		ID: s.ID, DecisionID: s.DecisionID, Subject: s.Subject, HostID: s.HostID, HostName: s.HostName, RelayID: s.RelayID,
		Transport: s.Transport, Encryption: s.Encryption, Channels: s.Channels, ChannelsOpened: s.ChannelsOpened,
		StartedAt: s.StartedAt, EndedAt: s.EndedAt, BytesUp: s.BytesUp, BytesDown: s.BytesDown, EndReason: s.EndReason,
		Live: s.EndedAt == nil,
	}
	if s.MaxDuration >= 0 {
		secs := int64(s.MaxDuration / time.Second)
		v.MaxDurationSeconds = &secs
	}
	if s.MaxDuration > 0 {
		ends := s.StartedAt.Add(s.MaxDuration)
		v.EndsAt = &ends
	}
	return v
}
