package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
)

// enrollmentTokenPrefix marks Portcullis enrollment tokens so that scanners can find leaks.
const enrollmentTokenPrefix = "pcet_"

// hostNamePattern is what a Host may call itself.
var hostNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$`)

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func (s *Server) handleCreateEnrollmentToken(w http.ResponseWriter, r *http.Request) {
	var req api.EnrollmentTokenRequest
	c, ok := s.gate(w, r, adminOp(opCreateEnrollmentToken, ""), func(c *apiCall) error {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		// The policy sees the scope the token will give: the tenant and tags of the future host.
		c.host = store.Host{Tenant: req.Tenant, Tags: req.Tags}
		switch {
		case req.Kind != "" && req.Kind != store.TokenKindHost && req.Kind != store.TokenKindRelay:
			return badRequest("kind must be host or relay")
		case req.Kind == store.TokenKindRelay && req.Tenant == "":
			return badRequest("a relay enrollment token needs the tenant whose relay it enrols")
		case req.TTLSeconds < 0:
			return badRequest("ttl_seconds must not be negative")
		}
		return nil
	})
	if !ok {
		return
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = DefaultEnrollmentTTL
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		writeError(w, api.Error{Code: access.ErrInternal})
		return
	}
	tok := enrollmentTokenPrefix + hex.EncodeToString(secret[:])
	now := s.cfg.Now()
	et := store.EnrollmentToken{
		ID: newID("et"), Hash: hashToken(tok), Tags: req.Tags, Tenant: req.Tenant, Kind: req.Kind,
		CreatedBy: c.claims.Subject, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := s.cfg.Store.CreateEnrollmentToken(r.Context(), et); err != nil {
		s.cfg.Logger.Error("create enrollment token", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	s.cfg.Logger.Info("enrollment token created", "token_id", et.ID, "by", c.claims.Subject, "tenant", et.Tenant, "decision_id", c.decisionID)
	writeJSON(w, http.StatusCreated, api.EnrollmentTokenResponse{ID: et.ID, Token: tok, ExpiresAt: et.ExpiresAt})
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req api.EnrollRequest
	if !readJSON(w, r, &req) {
		return
	}
	sshPub, cryptoPub, ok := enrollee(w, "host name", req.Name, req.PublicKey)
	if !ok {
		return
	}
	id := newID("h")
	der, cert, ok := s.issueClientCert(w, cryptoPub, hostCNPrefix+id, s.cfg.HostCertTTL)
	if !ok {
		return
	}
	h := store.Host{ID: id, Name: req.Name, OS: req.OS, PublicKey: ssh.MarshalAuthorizedKey(sshPub), CertSerial: cert.SerialNumber.String()}
	h, err := s.cfg.Store.EnrollHost(r.Context(), hashToken(req.Token), h, s.cfg.Now())
	if !s.enrollStoreError(w, err, "a host with this name is already enrolled") {
		return
	}
	s.cfg.Logger.Info("host enrolled", "host_id", h.ID, "host_name", h.Name, "tenant", h.Tenant)
	writeJSON(w, http.StatusCreated, api.EnrollResponse{
		HostID: h.ID, Certificate: string(certs.EncodeCertPEM(der)), CA: string(certs.EncodeCertPEM(s.cfg.CA.Cert.Raw)),
		SSHUserCA: string(ssh.MarshalAuthorizedKey(s.cfg.SSHUserCA.PublicKey())), Tags: h.Tags, Tenant: h.Tenant,
	})
}

// enrollStoreError maps a store error of EnrollHost or EnrollRelay to an answer (conflict says
// what a conflict means); it reports true when err is nil.
func (s *Server) enrollStoreError(w http.ResponseWriter, err error, conflict string) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTokenUsed), errors.Is(err, store.ErrTokenExpired):
		writeError(w, api.Error{Code: access.ErrUnauthenticated, Message: "enrollment token is invalid, used or expired"})
	case errors.Is(err, store.ErrConflict):
		writeError(w, api.Error{Code: access.ErrConflict, Message: conflict})
	default:
		s.cfg.Logger.Error("enroll host", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
	}
	return false
}

// enrollee checks an enrolling Host's or relay's name and key; it answers 400 and returns
// false when either is bad.
func enrollee(w http.ResponseWriter, what, name, key string) (ssh.PublicKey, ed25519.PublicKey, bool) {
	if !hostNamePattern.MatchString(name) {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: what + " must be lower-case letters, digits, dots and dashes"})
		return nil, nil, false
	}
	sshPub, cryptoPub, err := parseEd25519AuthorizedKey(key)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return nil, nil, false
	}
	return sshPub, cryptoPub, true
}

// parseEd25519AuthorizedKey parses an authorized_keys line holding an Ed25519 key.
func parseEd25519AuthorizedKey(line string) (ssh.PublicKey, ed25519.PublicKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, nil, errors.New("public_key is not an authorized_keys line")
	}
	cp, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return nil, nil, errors.New("public_key must be an ssh-ed25519 key")
	}
	ed, ok := cp.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, nil, errors.New("public_key must be an ssh-ed25519 key")
	}
	return pub, ed, nil
}

// admitAndAuthenticateHost authenticates a Host's heartbeat or long-poll within the Host
// admission limit (the slot is released once the Host is known); it has answered when false.
func (s *Server) admitAndAuthenticateHost(w http.ResponseWriter, r *http.Request) (store.Host, bool) {
	release, ok := s.admitHost(w, r)
	if !ok {
		return store.Host{}, false
	}
	defer release()
	return s.authenticateHost(w, r)
}

func (s *Server) handleHostRequests(w http.ResponseWriter, r *http.Request) {
	h, ok := s.admitAndAuthenticateHost(w, r)
	if !ok {
		return
	}
	done := s.presence.polls(h.ID, s.cfg.Now()) // a Host that long-polls is alive
	box := store.HostMailbox(h.ID)
	reqs := decodeMail[api.HostRequest](s, box, s.collectMail(r.Context(), box, s.cfg.LongPoll))
	done(s.cfg.Now())
	// The Host's enabled state is trusted for HostAuthTTL after the store said it, as for its
	// authentication (hostidentity.go): a Host back at once with a request in hand costs no read.
	if _, _, fresh := s.hostIdentities.get(h.ID, s.cfg.Now()); fresh {
		writeHostRequests(w, reqs)
		return
	}
	// Past it, the Host may have been disabled or deleted while it waited: refuse it now. When
	// the store cannot say in time, only orders to end sessions go out: they take access away
	// (the emergency brake, emergency.go), and the rest fails closed.
	ctx, cancel := context.WithTimeout(r.Context(), emergencyStoreTimeout)
	defer cancel()
	now, err := s.cfg.Store.GetHost(ctx, h.ID)
	if r.Context().Err() != nil {
		return // the Host went away; what it collected is lost with its connection
	}
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		s.cfg.Logger.Warn("host long-poll: store unavailable; passing on kill orders only", "host_id", h.ID, "err", err)
		reqs = slices.DeleteFunc(reqs, func(q api.HostRequest) bool { return !q.Kill })
	case !s.hostUsable(w, h.ID, now, err):
		s.hostIdentities.forget(h.ID)
		return
	default:
		// What the store says now authenticates the Host's next long-poll, which follows at once.
		s.hostIdentities.put(now, s.cfg.Now(), s.cfg.HostAuthTTL)
	}
	writeHostRequests(w, reqs)
}

// writeHostRequests answers a Host's long-poll with reqs (an empty list, never null).
func writeHostRequests(w http.ResponseWriter, reqs []api.HostRequest) {
	if reqs == nil {
		reqs = []api.HostRequest{}
	}
	writeJSON(w, http.StatusOK, api.HostRequests{Requests: reqs})
}

// handleRenewHost issues a new client certificate for the authenticated Host's key. The CM
// accepts only the latest serial: the new certificate works at once on every replica (a cached
// entry with another serial is checked against the store, see authenticateHost); the previous
// one stops working at once on this replica, and on another once its cached entry ends
// (HostAuthTTL) or the new certificate is presented there.
func (s *Server) handleRenewHost(w http.ResponseWriter, r *http.Request) {
	h, ok := s.authenticateHost(w, r)
	if !ok {
		return
	}
	pub, ok := s.hostKey(w, h)
	if !ok {
		return
	}
	der, cert, ok := s.issueClientCert(w, pub, hostCNPrefix+h.ID, s.cfg.HostCertTTL)
	if !ok {
		return
	}
	s.hostIdentities.forget(h.ID)
	if err := s.cfg.Store.SetHostCertSerial(r.Context(), h.ID, cert.SerialNumber.String()); err != nil {
		s.hostStoreError(w, "record renewed host certificate", err)
		return
	}
	// Again: a request with the old certificate may have cached the old serial meanwhile.
	s.hostIdentities.forget(h.ID)
	s.cfg.Logger.Info("host certificate renewed", "host_id", h.ID, "serial", cert.SerialNumber.String(), "expires", cert.NotAfter)
	writeJSON(w, http.StatusOK, api.HostRenewResponse{Certificate: string(certs.EncodeCertPEM(der)), ExpiresAt: cert.NotAfter})
}

// hostKey returns the Ed25519 public key the store holds for h; it writes 500 when it cannot.
func (s *Server) hostKey(w http.ResponseWriter, h store.Host) (ed25519.PublicKey, bool) {
	_, pub, err := parseEd25519AuthorizedKey(string(h.PublicKey))
	if err != nil {
		s.cfg.Logger.Error("stored host key", "host_id", h.ID, "err", err)
		writeError(w, api.Error{Code: access.ErrInternal})
		return nil, false
	}
	return pub, true
}

// issueClientCert signs a client certificate for pub; it writes 500 when it cannot.
func (s *Server) issueClientCert(w http.ResponseWriter, pub ed25519.PublicKey, cn string, ttl time.Duration) ([]byte, *x509.Certificate, bool) {
	der, err := s.cfg.CA.IssueClientCert(pub, cn, ttl)
	if err == nil {
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(der); err == nil {
			return der, cert, true
		}
	}
	s.cfg.Logger.Error("issue client certificate", "cn", cn, "err", err)
	writeError(w, api.Error{Code: access.ErrInternal})
	return nil, nil, false
}
