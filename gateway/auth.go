package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// Common names of the client certificates the CM accepts.
//
// A Guest's credential is a client certificate with common name "user:" + the mapped user id,
// issued by POST /v1/auth/credential for a key the Guest generated and keeps. Every user
// endpoint requires both the Bearer ID token (fresh claims: groups, amr, expiry) and a TLS
// connection authenticated by such a certificate naming the same user: a bearer token alone,
// stolen or replayed, connects nowhere. An ID token is exchanged for a certificate once only,
// so a token seen later in transit cannot mint a certificate for another key. A Host's is
// "host:" + its id; a relay's is "relay:" + its id (certs.RelayCNPrefix, see authenticateRelay).
const (
	userCNPrefix = "user:"
	hostCNPrefix = "host:"
)

// relayPrincipal is an authenticated Connection Server.
type relayPrincipal struct {
	// id is the relay's id, as its certificate names it.
	id string
	// tenant owns an enrolled relay; "" for a vendor relay.
	tenant string
}

// refuseAuth writes a 401 with a reason code and a message.
func refuseAuth(w http.ResponseWriter, reason access.Code, msg string) {
	writeError(w, api.Error{Code: access.ErrUnauthenticated, Reason: reason, Message: msg})
}

// verifyBearer verifies the caller's Bearer ID token alone; it writes 401 with the reason and
// returns false if the token is missing or refused.
func (s *Server) verifyBearer(w http.ResponseWriter, r *http.Request) (identity.Claims, string, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		refuseAuth(w, access.ErrMissingToken, "missing bearer ID token")
		return identity.Claims{}, "", false
	}
	claims, err := s.cfg.Auth.Verify(r.Context(), raw)
	if err != nil {
		s.cfg.Logger.Info("refused ID token", "reason", access.CodeOf(err), "err", err, "remote", r.RemoteAddr)
		if errors.Is(err, access.ErrProviderUnavailable) {
			writeError(w, api.Error{Code: access.ErrUnavailable, Reason: access.CodeOf(err), Message: err.Error()})
			return identity.Claims{}, "", false
		}
		refuseAuth(w, access.CodeOf(err), err.Error())
		return identity.Claims{}, "", false
	}
	return claims, raw, true
}

// authenticateGuest authenticates a signed-in user: the Bearer ID token and the client certificate bound
// to the same user. It writes 401 with the reason and returns false if either is missing.
func (s *Server) authenticateGuest(w http.ResponseWriter, r *http.Request) (identity.Claims, bool) {
	if claims, ok := consoleClaims(r); ok {
		return claims, true // the web console verified the ID token (ServeAs)
	}
	claims, _, ok := s.verifyBearer(w, r)
	if !ok {
		return identity.Claims{}, false
	}
	cert := clientCert(r)
	if cert == nil || !strings.HasPrefix(cert.Subject.CommonName, userCNPrefix) {
		refuseAuth(w, access.ErrCredentialRequired,
			"a client certificate bound to the signed-in user is required (sign in again: portcullis login)")
		return identity.Claims{}, false
	}
	if cert.Subject.CommonName != userCNPrefix+claims.Subject {
		s.cfg.Logger.Warn("client certificate names another user than the ID token",
			"certificate", cert.Subject.CommonName, "token_subject", claims.Subject, "remote", r.RemoteAddr)
		refuseAuth(w, access.ErrCredentialMismatch, "the client certificate names another user than the ID token")
		return identity.Claims{}, false
	}
	return claims, true
}

// clientCert returns the verified mTLS client certificate, or nil.
func clientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// authenticateHost authenticates an enrolled, enabled Host by its current mTLS client certificate: the
// certificate's serial must be the one the CM last issued to the Host, so that a renewed
// Host's old certificate, or a deleted Host's, is refused.
//
// A cached entry whose serial differs from the certificate's is not trusted to refuse: the Host
// may have renewed at another replica (or an old-certificate request re-cached the old serial
// here while this replica renewed it), so the store is asked once and has the last word.
func (s *Server) authenticateHost(w http.ResponseWriter, r *http.Request) (store.Host, bool) {
	cert := clientCert(r)
	var id string
	if cert != nil {
		id, _ = strings.CutPrefix(cert.Subject.CommonName, hostCNPrefix)
	}
	if cert == nil || id == "" || !strings.HasPrefix(cert.Subject.CommonName, hostCNPrefix) {
		writeError(w, api.Error{Code: access.ErrUnauthenticated, Message: "a host client certificate is required"})
		return store.Host{}, false
	}
	now := s.cfg.Now()
	h, serial, cached := s.hostIdentities.get(id, now)
	if cached && !sameSerial(serial, cert.SerialNumber) {
		s.hostIdentities.forget(id) // possibly stale: the store decides below
		cached = false
	}
	if !cached {
		var ok bool
		if h, ok = s.loadHost(r.Context(), w, id); !ok {
			return store.Host{}, false
		}
		serial = s.hostIdentities.put(h, now, s.cfg.HostAuthTTL)
	}
	if !sameSerial(serial, cert.SerialNumber) {
		refuseAuth(w, access.ErrCredentialMismatch, "this host certificate was replaced by a renewed one")
		return store.Host{}, false
	}
	return h, true
}

// loadHost loads an enrolled, enabled Host; it writes 401 (unknown), 403 (disabled) or 503.
func (s *Server) loadHost(ctx context.Context, w http.ResponseWriter, id string) (store.Host, bool) {
	h, err := s.cfg.Store.GetHost(ctx, id)
	if !s.hostUsable(w, id, h, err) {
		return store.Host{}, false
	}
	return h, true
}

// hostUsable judges the store's answer for Host id: false (and the refusal written) when it is
// unknown, disabled, or the store failed.
func (s *Server) hostUsable(w http.ResponseWriter, id string, h store.Host, err error) bool {
	switch {
	case errors.Is(err, store.ErrNotFound):
		refuseAuth(w, access.ErrUnknownHost, "unknown host")
	case err != nil:
		s.cfg.Logger.Error("load host", "host_id", id, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
	case h.Disabled:
		writeError(w, api.Error{Code: access.ErrForbidden, Message: "host is disabled"})
	default:
		return true
	}
	return false
}

// authenticateRelay authenticates a Connection Server by its mTLS client certificate, which
// names the relay: "relay:<id>". A vendor relay's certificate carries the vendor mark
// (certs.IsVendorRelay) and names an id no tenant's relay enrolled; a tenant's relay presents
// the very certificate the CM issued when it enrolled. Every other certificate is refused,
// the relays' old shared one (certs.CSCommonName) with a message saying what to do.
func (s *Server) authenticateRelay(w http.ResponseWriter, r *http.Request) (relayPrincipal, bool) {
	return s.checkRelay(w, r, false)
}

// authenticateRelayForOrders is authenticateRelay for the command poll, which carries only
// orders to end sessions: when the store cannot tell within emergencyStoreTimeout whether the
// certificate's relay is a tenant's, a valid relay certificate still receives the orders for
// its own id, so that a lock ends sessions while the store is down (emergency.go).
func (s *Server) authenticateRelayForOrders(w http.ResponseWriter, r *http.Request) (relayPrincipal, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), emergencyStoreTimeout)
	defer cancel()
	return s.checkRelay(w, r.WithContext(ctx), true)
}

// checkRelay authenticates a relay; ordersOnly lets a store failure through (see
// authenticateRelayForOrders).
func (s *Server) checkRelay(w http.ResponseWriter, r *http.Request, ordersOnly bool) (relayPrincipal, bool) {
	cert := clientCert(r)
	id, ok := certs.RelayIDOf(cert)
	switch {
	case cert != nil && cert.Subject.CommonName == certs.CSCommonName:
		s.cfg.Logger.Warn("refused the relays' old shared certificate", "reason", access.ErrRelayCertRequired, "remote", r.RemoteAddr)
		refuseAuth(w, access.ErrRelayCertRequired, "the shared relay certificate ("+certs.CSCommonName+
			") no longer identifies a relay: issue each relay its own certificate (portcullis certs relay --id <id>) and start it with it")
		return relayPrincipal{}, false
	case !ok:
		refuseAuth(w, access.ErrRelayCertRequired, "a relay client certificate naming the relay (relay:<id>) is required")
		return relayPrincipal{}, false
	}
	ri, err := s.cfg.Store.GetRelayIdentity(r.Context(), id)
	vendor := certs.IsVendorRelay(cert)
	switch {
	case errors.Is(err, store.ErrNotFound) && vendor:
		return relayPrincipal{id: id}, true
	case errors.Is(err, store.ErrNotFound):
		refuseAuth(w, access.ErrUnknownRelay, "unknown relay "+id)
		return relayPrincipal{}, false
	case err != nil && ordersOnly:
		s.cfg.Logger.Warn("relay identity unknown while the store is down; passing on orders only", "relay_id", id, "err", err)
		return relayPrincipal{id: id}, true
	case err != nil:
		s.cfg.Logger.Error("load relay identity", "relay_id", id, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return relayPrincipal{}, false
	case vendor || ri.CertSerial != cert.SerialNumber.String():
		s.cfg.Logger.Warn("refused a certificate for an enrolled relay that the CM did not issue to it",
			"relay_id", id, "reason", access.ErrUnknownRelay, "vendor", vendor, "remote", r.RemoteAddr)
		refuseAuth(w, access.ErrUnknownRelay, "relay "+id+" is a tenant's enrolled relay; this is not the certificate the CM issued to it")
		return relayPrincipal{}, false
	}
	return relayPrincipal{id: ri.ID, tenant: ri.Tenant}, true
}

// relayID binds a relay's call to its certificate: it returns the certificate's relay id when
// the call names no relay or the same one (named is the id in the body or the query), and
// answers 403 wrong_relay otherwise.
func (s *Server) relayID(w http.ResponseWriter, r *http.Request, p relayPrincipal, named string) (string, bool) {
	if named == "" || named == p.id {
		return p.id, true
	}
	s.cfg.Logger.Warn("refused a relay's call for another relay", "relay_id", p.id, "named", named,
		"path", r.URL.Path, "reason", access.ErrWrongRelay, "remote", r.RemoteAddr)
	writeError(w, api.Error{Code: access.ErrForbidden, Reason: access.ErrWrongRelay,
		Message: "this relay's certificate is for " + p.id + ", not " + named})
	return "", false
}
