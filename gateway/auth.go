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
	// relayCN is the vendor's relays' certificate (certs init writes it).
	relayCN = "portcullis-relay"
	// relayCNPrefix starts the certificate of a tenant's enrolled relay: "relay:<id>".
	relayCNPrefix = "relay:"
)

// relayPrincipal is an authenticated Connection Server.
type relayPrincipal struct {
	// id is the enrolled relay's id; "" for a vendor relay (which names itself).
	id string
	// tenant owns an enrolled relay; "" for a vendor relay.
	tenant string
}

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
	now := s.cfg.Now()
	if h, ok := s.hostAuth.get(id, now); ok {
		return h, true
	}
	h, err := s.cfg.Store.GetHost(r.Context(), id)
	if err == nil {
		s.hostAuth.put(h, now, s.cfg.HostAuthTTL)
	}
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

// relay authenticates a Connection Server by its mTLS client certificate: the vendor's
// certificate, or an enrolled tenant relay's "relay:<id>".
func (s *Server) relay(w http.ResponseWriter, r *http.Request) (relayPrincipal, bool) {
	cn := clientCN(r)
	if cn == relayCN {
		return relayPrincipal{}, true
	}
	id, ok := strings.CutPrefix(cn, relayCNPrefix)
	if !ok || id == "" {
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: "a relay client certificate is required"})
		return relayPrincipal{}, false
	}
	ri, err := s.cfg.Store.GetRelayIdentity(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthenticated, Message: "unknown relay"})
		return relayPrincipal{}, false
	case err != nil:
		s.cfg.Logger.Error("load relay identity", "relay", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
		return relayPrincipal{}, false
	}
	return relayPrincipal{id: ri.ID, tenant: ri.Tenant}, true
}

// speaksFor reports whether the principal may act as relay id: an enrolled relay only as
// itself, a vendor relay as any id that no tenant's relay enrolled.
func (s *Server) speaksFor(w http.ResponseWriter, r *http.Request, p relayPrincipal, id string) bool {
	if p.id != "" {
		if id != p.id {
			writeError(w, http.StatusForbidden, api.Error{Code: api.CodeForbidden, Message: "this relay certificate is for " + p.id})
			return false
		}
		return true
	}
	_, err := s.cfg.Store.GetRelayIdentity(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return true
	case err != nil:
		s.cfg.Logger.Error("load relay identity", "relay", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
	default:
		writeError(w, http.StatusForbidden, api.Error{Code: api.CodeForbidden, Message: "relay " + id + " is a tenant's enrolled relay"})
	}
	return false
}

// inGroups reports whether the claims carry any of the groups.
func inGroups(c identity.Claims, groups []string) bool {
	return slices.ContainsFunc(c.Groups, func(g string) bool { return slices.Contains(groups, g) })
}
