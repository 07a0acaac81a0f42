package gateway

import (
	"errors"
	"net/http"
	"strings"
	"unicode"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// handleRefuseSession records that the Guest refused the session it was granted (its encryption
// level is weaker than the grant's minimum, say) and ends it at once everywhere, so that the
// record does not stay live until the pairing times out. Only the session's own user may, and
// only while it is live.
func (s *Server) handleRefuseSession(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	var req api.SessionRefusal
	if !readJSON(w, r, &req) {
		return
	}
	sess, err := s.cfg.Store.GetSession(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && sess.Subject != claims.Subject:
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such session of yours"})
		return
	case err != nil:
		s.storeUnavailable(w, "get session", err)
		return
	case sess.EndedAt != nil:
		writeError(w, api.Error{Code: access.ErrConflict, Message: "the session has ended already"})
		return
	}
	reason := api.ReasonPrefixGuestRefused + printable(req.Reason, api.MaxRefusalReason)
	s.endSessions(r.Context(), []store.Session{sess}, reason)
	w.WriteHeader(http.StatusNoContent)
}

// printable keeps at most n runes of text that are valid UTF-8 and no control characters, for a
// record others read on a terminal.
func printable(text string, n int) string {
	clean := []rune(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(text, "")))
	return string(clean[:min(len(clean), n)])
}
