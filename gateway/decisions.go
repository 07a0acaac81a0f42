package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

func (s *Server) handleGetDecision(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.guest(w, r)
	if !ok {
		return
	}
	d, err := s.cfg.Store.GetDecision(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "no such decision"})
		return
	case err != nil:
		s.cfg.Logger.Error("get decision", "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
		return
	}
	// Auditors read every record; anyone else reads only their own, and cannot tell whether
	// another user's record exists.
	if d.Subject != claims.Subject && !inGroups(claims, s.cfg.AuditorGroups) {
		writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "no such decision"})
		return
	}
	writeJSON(w, http.StatusOK, decisionView(d))
}

// decisionView renders a stored decision record for the API.
func decisionView(d store.Decision) api.Decision {
	return api.Decision{
		ID: d.ID, Time: d.Time, Path: d.Path, Subject: d.Subject, HostID: d.HostID, HostName: d.HostName,
		Allow: d.Allow, Reasons: d.Reasons, Input: json.RawMessage(d.Input), Result: json.RawMessage(d.Result),
		Revision: d.Revision, EvalNS: d.EvalNS, Labels: d.Labels,
	}
}
