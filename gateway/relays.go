package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// Reasons the CM records for sessions whose end no relay reported.
const (
	// reasonRelayLost ends the sessions of a relay that stopped reporting.
	reasonRelayLost = "relay lost"
	// reasonNotHeld ends a session its relay no longer holds (never paired, or its end report
	// was lost while the CM was down).
	reasonNotHeld = "ended without a report (the relay no longer holds it)"
)

// unpairedGrace is how long after a session's grant its relay may still not hold it (the Guest
// and Host dialling); with the ticket's lifetime it bounds when a missing session is over.
const unpairedGrace = 20 * time.Second

// relayCacheTTL is how long the CM reuses its list of relays before reading the store again.
const relayCacheTTL = time.Second

// relayRegistry caches the relays registered in the store, which all CM replicas share.
type relayRegistry struct {
	mu      sync.Mutex
	relays  []store.Relay
	fetched time.Time
	// alive holds the relays that registered with this CM process since it started: only
	// those can be declared lost by it (a restarted CM waits for relays to report again).
	alive map[string]bool
	// reconciled is when each relay's session list was last compared with the records.
	reconciled map[string]time.Time
	// heard is when each relay's last report reached this CM, before the store recorded it: a
	// store slow to commit (a stalled disk) must not make a relay that reports look lost.
	heard map[string]time.Time
	// replies holds the encoded answer to a heartbeat, by the Host's tenant, made from relays
	// (heartbeatReply); it goes with them.
	replies map[string][]byte
}

func newRelayRegistry() *relayRegistry {
	return &relayRegistry{alive: map[string]bool{}, reconciled: map[string]time.Time{}, heard: map[string]time.Time{}}
}

// heardFrom notes that a report of the relay reached this CM at now.
func (rr *relayRegistry) heardFrom(id string, now time.Time) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.heard[id] = now
}

// registered notes that the relay reported to this CM.
func (rr *relayRegistry) registered(id string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.alive[id] = true
}

// isAlive reports whether the relay registered with this CM and was not declared lost.
func (rr *relayRegistry) isAlive(id string) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.alive[id]
}

// reconcileDue reports whether the relay's sessions are due for reconciliation (at most once
// per every interval), and if so notes that they are being reconciled now.
func (rr *relayRegistry) reconcileDue(id string, now time.Time, every time.Duration) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if now.Sub(rr.reconciled[id]) < every {
		return false
	}
	rr.reconciled[id] = now
	return true
}

// lost returns the relays this CM saw alive whose last report (in the shared store, or the
// last to reach this CM if later) is older than stale, and forgets them.
func (rr *relayRegistry) lost(all []store.Relay, now time.Time, stale time.Duration) []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	var out []string
	for _, rel := range all {
		last := rel.LastSeen
		if h := rr.heard[rel.ID]; h.After(last) {
			last = h
		}
		if rr.alive[rel.ID] && now.Sub(last) > stale {
			out = append(out, rel.ID)
			delete(rr.alive, rel.ID)
		}
	}
	return out
}

func (rr *relayRegistry) list(ctx context.Context, st *store.DB, now time.Time) ([]store.Relay, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.listLocked(ctx, st, now)
}

// listLocked is list with rr.mu held.
func (rr *relayRegistry) listLocked(ctx context.Context, st *store.DB, now time.Time) ([]store.Relay, error) {
	if now.Sub(rr.fetched) < relayCacheTTL && rr.relays != nil {
		return rr.relays, nil
	}
	relays, err := st.ListRelays(ctx)
	if err != nil {
		return nil, fmt.Errorf("list relays: %w", err)
	}
	rr.relays, rr.fetched, rr.replies = relays, now, nil
	return relays, nil
}

func (rr *relayRegistry) invalidate() {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.relays, rr.replies = nil, nil
}

func (s *Server) handleRelayRegister(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticateRelay(w, r)
	if !ok {
		return
	}
	var req api.RelayRegistration
	if err := decodeJSONUpTo(w, r, &req, maxRelayReportBytes); err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	id, ok := s.relayID(w, r, p, req.ID)
	if !ok {
		return
	}
	if err := checkRelayAddrs(req); err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	now := s.cfg.Now()
	rel := store.Relay{
		ID: id, Addr: req.Addr, HTTPAddr: req.HTTPAddr, Region: req.Region,
		Owner: vendorOwner, Sessions: req.Sessions, BytesPerSec: req.BytesPerSec, MaxSessions: req.MaxSessions,
		Healthy: !req.Draining, LastSeen: now,
	}
	switch {
	case p.tenant != "":
		// An enrolled relay belongs to its tenant, whatever it says.
		rel.Owner, rel.Private = p.tenant, true
	case req.Private || req.Owner != "" && req.Owner != vendorOwner:
		writeError(w, api.Error{Code: access.ErrForbidden, Message: "a tenant's private relay must enrol with a relay enrollment token"})
		return
	}
	// Heard from only once the report is accepted: a relay whose reports are refused is not
	// kept alive by them (its sessions end as lost).
	s.relays.heardFrom(id, now)
	if err := s.cfg.Store.UpsertRelay(r.Context(), rel); err != nil {
		s.cfg.Logger.Error("register relay", "relay_id", id, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	s.relays.invalidate()
	s.relays.registered(rel.ID)
	if req.LiveSessions != nil && s.relays.reconcileDue(rel.ID, rel.LastSeen, s.cfg.RelayStale) {
		if err := s.reconcileRelaySessions(r.Context(), rel.ID, req.LiveSessions, rel.LastSeen); err != nil {
			s.cfg.Logger.Warn("reconcile relay sessions", "relay_id", rel.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, api.RelayRegistrationResponse{IntervalSeconds: int64(s.cfg.RelayInterval / time.Second)})
}

// checkRelayAddrs refuses a registration whose addresses Guests and Hosts could not dial.
func checkRelayAddrs(req api.RelayRegistration) error {
	if err := api.CheckRelayAddr(req.Addr); err != nil {
		return fmt.Errorf("relay addr %q is not host:port: %w", req.Addr, err)
	}
	if req.HTTPAddr == "" {
		return nil
	}
	if err := api.CheckRelayHTTPAddr(req.HTTPAddr); err != nil {
		return fmt.Errorf("relay http_addr %q is not an http or https base URL: %w", req.HTTPAddr, err)
	}
	return nil
}

// vendorOwner is the owner of the vendor's shared relays.
const vendorOwner = "vendor"

// relaySession authenticates a relay's report about a session (named is the relay id the
// report names, if any), checks that the session was assigned to the relay its certificate
// names and returns its record; it answers and returns false otherwise.
func (s *Server) relaySession(w http.ResponseWriter, r *http.Request, named, sessionID string) (store.Session, bool) {
	p, ok := s.authenticateRelay(w, r)
	if !ok {
		return store.Session{}, false
	}
	relayID, ok := s.relayID(w, r, p, named)
	if !ok {
		return store.Session{}, false
	}
	sess, err := s.cfg.Store.GetSession(r.Context(), sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && sess.RelayID != relayID:
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such session on this relay"})
		return store.Session{}, false
	case err != nil:
		s.cfg.Logger.Warn("load session", "session_id", sessionID, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return store.Session{}, false
	}
	return sess, true
}

func (s *Server) handleRelaySessionEnd(w http.ResponseWriter, r *http.Request) {
	var req api.SessionEnd
	if !readJSON(w, r, &req) {
		return
	}
	if _, ok := s.relaySession(w, r, req.RelayID, req.SessionID); !ok {
		return
	}
	if err := s.cfg.Store.EndSession(r.Context(), req.SessionID, req.Ended, req.BytesUp, req.BytesDown, req.Reason); err != nil {
		s.cfg.Logger.Warn("record session end", "session_id", req.SessionID, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	s.live.remove(req.SessionID)
	w.WriteHeader(http.StatusNoContent)
}

// handleRelayPaired records how the two ends of a session reached the relay. A session whose
// end is recorded already (a lock made before its ends reached the relay, whose order the relay
// could not act on then) is ordered to end again.
func (s *Server) handleRelayPaired(w http.ResponseWriter, r *http.Request) {
	var req api.RelayPaired
	if !readJSON(w, r, &req) {
		return
	}
	sess, ok := s.relaySession(w, r, req.RelayID, req.SessionID)
	if !ok {
		return
	}
	if sess.EndedAt != nil {
		s.orderEndAgain(r.Context(), []store.Session{sess})
	}
	if err := s.cfg.Store.SetSessionTransport(r.Context(), req.SessionID, transportLabel(req.GuestTransport, req.HostTransport)); err != nil {
		s.cfg.Logger.Warn("record session transport", "session_id", req.SessionID, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// transportLabel is the session record's transport: "tcp", "http", or "guest=http host=tcp".
func transportLabel(guest, host string) string {
	if guest == host {
		return guest
	}
	return "guest=" + guest + " host=" + host
}

// handleRelayEnroll enrols a tenant's private relay with a relay enrollment token.
func (s *Server) handleRelayEnroll(w http.ResponseWriter, r *http.Request) {
	var req api.RelayEnrollRequest
	if !readJSON(w, r, &req) {
		return
	}
	_, pub, ok := enrollee(w, "relay id", req.ID, req.PublicKey)
	if !ok || !s.relayIDFree(w, r, req.ID) {
		return
	}
	der, cert, ok := s.issueClientCert(w, pub, certs.RelayCommonName(req.ID), s.cfg.HostCertTTL)
	if !ok {
		return
	}
	ri, err := s.cfg.Store.EnrollRelay(r.Context(), hashToken(req.Token), store.RelayIdentity{ID: req.ID, CertSerial: cert.SerialNumber.String()}, s.cfg.Now())
	if !s.enrollStoreError(w, err, "a relay with this id is already enrolled") {
		return
	}
	s.cfg.Logger.Info("relay enrolled", "relay_id", ri.ID, "tenant", ri.Tenant)
	writeJSON(w, http.StatusCreated, api.RelayEnrollResponse{
		ID: ri.ID, Tenant: ri.Tenant, Certificate: string(certs.EncodeCertPEM(der)), CA: string(certs.EncodeCertPEM(s.cfg.CA.Cert.Raw)),
	})
}

// relayIDFree reports whether a tenant's relay may enrol as id: no relay registered under it
// (a vendor relay's id is its own). It answers 409 or 503 otherwise.
func (s *Server) relayIDFree(w http.ResponseWriter, r *http.Request, id string) bool {
	all, err := s.cfg.Store.ListRelays(r.Context())
	if err != nil {
		s.cfg.Logger.Error("list relays", "relay_id", id, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return false
	}
	if slices.ContainsFunc(all, func(rel store.Relay) bool { return rel.ID == id }) {
		writeError(w, api.Error{Code: access.ErrConflict, Message: "a relay with this id is registered already"})
		return false
	}
	return true
}

// handleRelayProbes lists the relays a Guest may be sent to for a host, to measure its latency.
func (s *Server) handleRelayProbes(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	q, err := parseParams(r, "host")
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	tenant, err := s.probeTenant(r, claims, q.Get("host"))
	var out []api.RelayAddr
	if err == nil {
		out, err = s.probeTargets(r, tenant)
	}
	if err != nil {
		s.cfg.Logger.Error("relay probes", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// probeTenant is the tenant whose private relays a Guest about to connect to host may probe:
// the Host's tenant when the policy would let the caller connect to it now (evaluated as the
// host listing does: nothing minted, nothing recorded), else none, so that naming another
// tenant's Host reveals none of that tenant's relays.
func (s *Server) probeTenant(r *http.Request, claims identity.Claims, host string) (string, error) {
	if host == "" {
		return "", nil
	}
	h, err := s.cfg.Store.GetHostByName(r.Context(), host)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case h.Disabled || h.Tenant == "":
		return "", nil
	}
	now := s.cfg.Now()
	relays, err := s.relayCandidates(r.Context(), now)
	if err != nil {
		return "", err
	}
	a := &connectAttempt{claims: claims, now: now, host: h, relays: relays, req: api.ConnectRequest{Host: h.Name}}
	res, err := s.cfg.Policy.Current().Decide(r.Context(), s.policyInput(r, a))
	if err != nil || !res.Decision.Allow {
		return "", nil // fail closed: no private relay
	}
	return h.Tenant, nil
}

// probeTargets are the healthy relays a session of tenant could use.
func (s *Server) probeTargets(r *http.Request, tenant string) ([]api.RelayAddr, error) {
	cands, err := s.relayCandidates(r.Context(), s.cfg.Now())
	if err != nil {
		return nil, err
	}
	return tenantRelays(cands, tenant), nil
}

// tenantRelays returns where the relays of cands that a session of tenant could use listen.
func tenantRelays(cands []store.Relay, tenant string) []api.RelayAddr {
	out := []api.RelayAddr{}
	for _, rel := range cands {
		if !rel.Private || rel.Owner == tenant {
			out = append(out, relayAddr(rel))
		}
	}
	return out
}

// relayAddr is where the ends dial rel.
func relayAddr(rel store.Relay) api.RelayAddr {
	return api.RelayAddr{ID: rel.ID, Addr: rel.Addr, HTTPAddr: rel.HTTPAddr}
}

// relayCandidates returns the healthy relays, which is what the policy sees.
func (s *Server) relayCandidates(ctx context.Context, now time.Time) ([]store.Relay, error) {
	all, err := s.relays.list(ctx, s.cfg.Store, now)
	if err != nil {
		return nil, err
	}
	return s.healthyRelays(all, now), nil
}

// healthyRelays returns the relays of all that are healthy at now.
func (s *Server) healthyRelays(all []store.Relay, now time.Time) []store.Relay {
	var out []store.Relay
	for _, rel := range all {
		if rel.Healthy && now.Sub(rel.LastSeen) <= s.cfg.RelayStale {
			out = append(out, rel)
		}
	}
	return out
}
