package gateway

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// Common names of the client certificates the CM accepts.
const (
	hostCNPrefix = "host:"
	relayCN      = "portcullis-relay"
)

// guest authenticates the caller by the Bearer ID token; it writes 401 and returns false if not.
func (s *Server) guest(w http.ResponseWriter, r *http.Request) (identity.Claims, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: "missing bearer ID token"})
		return identity.Claims{}, false
	}
	claims, err := s.cfg.Auth.Verify(r.Context(), raw)
	if err != nil {
		s.cfg.Logger.Info("refused ID token", "err", err, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: err.Error()})
		return identity.Claims{}, false
	}
	return claims, true
}

// clientCN returns the common name of the verified mTLS client certificate, or "".
func clientCN(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

// host authenticates an enrolled, enabled Host by its mTLS client certificate.
func (s *Server) host(w http.ResponseWriter, r *http.Request) (store.Host, bool) {
	id, ok := strings.CutPrefix(clientCN(r), hostCNPrefix)
	if !ok || id == "" {
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: "a host client certificate is required"})
		return store.Host{}, false
	}
	h, err := s.cfg.Store.GetHost(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: "unknown host"})
		return store.Host{}, false
	case err != nil:
		s.cfg.Logger.Error("load host", "host", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
		return store.Host{}, false
	case h.Disabled:
		writeError(w, http.StatusForbidden, api.Error{Code: api.CodeForbidden, Message: "host is disabled"})
		return store.Host{}, false
	}
	return h, true
}

// relay authenticates a Connection Server by its mTLS client certificate.
func (s *Server) relay(w http.ResponseWriter, r *http.Request) bool {
	if clientCN(r) != relayCN {
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: "a relay client certificate is required"})
		return false
	}
	return true
}

// inGroups reports whether the claims carry any of the groups.
func inGroups(c identity.Claims, groups []string) bool {
	return slices.ContainsFunc(c.Groups, func(g string) bool { return slices.Contains(groups, g) })
}
