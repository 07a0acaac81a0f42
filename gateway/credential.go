package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// handleCredential exchanges a fresh ID token, once, for a client certificate for the key the
// Guest sent. "Once" is per signed header and payload (identity.ReplayKey), whatever the
// token's spelling or signature encoding. The certificate expires with the ID token, and never later than
// MaxCredentialTTL from now. Lifetimes are judged on the real clock, which the CA signs with.
func (s *Server) handleCredential(w http.ResponseWriter, r *http.Request) {
	claims, raw, ok := s.verifyBearer(w, r)
	if !ok {
		return
	}
	// The one-time rule is keyed by the token's signed content, not its spelling: the verifier
	// accepts only the canonical compact form, and ReplayKey refuses any other too.
	replayKey, err := identity.ReplayKey(raw)
	if err != nil {
		s.cfg.Logger.Info("refused ID token", "reason", access.CodeOf(err), "err", err, "remote", r.RemoteAddr)
		refuseAuth(w, access.CodeOf(err), err.Error())
		return
	}
	var req api.CredentialRequest
	if !readJSON(w, r, &req) {
		return
	}
	_, pub, err := parseEd25519AuthorizedKey(req.PublicKey)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	now := time.Now()
	ttl := min(claims.Expiry.Sub(now), s.cfg.MaxCredentialTTL)
	if ttl < time.Second {
		refuseAuth(w, "expired", "the ID token expires too soon to be exchanged for a credential")
		return
	}
	der, cert, ok := s.issueClientCert(w, pub, userCNPrefix+claims.Subject, ttl)
	if !ok {
		return
	}
	err = s.cfg.Store.RecordCredentialGrant(r.Context(), store.CredentialGrant{
		TokenHash: replayKey[:], Subject: claims.Subject, CertSerial: cert.SerialNumber.String(),
		GrantedAt: now, ExpiresAt: claims.Expiry.Add(identity.MaxSkewLimit),
	})
	switch {
	case errors.Is(err, store.ErrReplayed):
		s.cfg.Logger.Warn("ID token presented again for a credential", "subject", claims.Subject, "remote", r.RemoteAddr)
		refuseAuth(w, access.ErrTokenExchanged, "this ID token was already exchanged for a credential; sign in again")
		return
	case err != nil:
		s.cfg.Logger.Error("record credential grant", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	s.cfg.Logger.Info("credential issued", "subject", claims.Subject, "serial", cert.SerialNumber.String(), "expires", cert.NotAfter)
	writeJSON(w, http.StatusCreated, api.CredentialResponse{
		Certificate: string(certs.EncodeCertPEM(der)), Subject: claims.Subject, ExpiresAt: cert.NotAfter,
	})
}

// handleWhoAmI tells a signed-in Guest who the CM takes it for.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, api.WhoAmI{
		Subject: claims.Subject, Name: claims.Name, Email: claims.Email, Issuer: claims.Issuer,
		Groups: claims.Groups, AMR: claims.AMR, ACR: claims.ACR,
		TokenExpiresAt: claims.Expiry, CredentialExpiresAt: clientCert(r).NotAfter,
	})
}
