package gateway

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// authorizeLive authenticates the caller and asks the API policy whether it may perform op on the
// session and lock records (read them: auditors and administrators; change them:
// administrators). It is the one place that rule lives.
func (s *Server) authorizeLive(w http.ResponseWriter, r *http.Request, op string) (identity.Claims, bool) {
	claims, _, ok := s.authorizeAPI(w, r, op, store.Host{})
	return claims, ok
}

// handleListSessions lists session records, newest first. Filters: user, host (name), relay,
// live (true|false), limit.
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorizeLive(w, r, opListSessions); !ok {
		return
	}
	f, msg := sessionFilter(r)
	if msg != "" {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: msg})
		return
	}
	ctx := r.Context()
	if name := r.URL.Query().Get("host"); name != "" {
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
	ss, err := s.cfg.Store.ListSessions(ctx, f)
	if err != nil {
		s.storeUnavailable(w, "list sessions", err)
		return
	}
	out := make([]api.Session, 0, len(ss))
	for _, sess := range ss {
		out = append(out, sessionView(sess))
	}
	writeJSON(w, http.StatusOK, out)
}

// sessionFilter reads the query's filters; a message names a malformed one.
func sessionFilter(r *http.Request) (store.SessionFilter, string) {
	q := r.URL.Query()
	f := store.SessionFilter{Subject: q.Get("user"), RelayID: q.Get("relay")}
	if v := q.Get("live"); v != "" {
		live, err := strconv.ParseBool(v)
		if err != nil {
			return f, "live must be true or false"
		}
		f.Live = &live
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, "limit must be a non-negative number"
		}
		f.Limit = n
	}
	return f, ""
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorizeLive(w, r, opListSessions); !ok {
		return
	}
	sess, err := s.cfg.Store.GetSession(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such session"})
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

func sessionView(s store.Session) api.Session {
	return api.Session{
		ID: s.ID, DecisionID: s.DecisionID, Subject: s.Subject, HostID: s.HostID, HostName: s.HostName, RelayID: s.RelayID,
		Transport: s.Transport, Encryption: s.Encryption, Channels: s.Channels, ChannelsOpened: s.ChannelsOpened,
		StartedAt: s.StartedAt, EndedAt: s.EndedAt, BytesUp: s.BytesUp, BytesDown: s.BytesDown, EndReason: s.EndReason,
		Live: s.EndedAt == nil,
	}
}
