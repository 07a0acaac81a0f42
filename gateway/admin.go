package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// apiPathPrefix prefixes the decision-log path of every API decision: portcullis/api/<operation>.
const apiPathPrefix = "portcullis/api/"

// API operations the policy (data.portcullis.api) decides.
const (
	opCreateEnrollmentToken = "enrollment_tokens.create"
	opListHosts             = "hosts.list"
	opDisableHost           = "hosts.disable"
	opEnableHost            = "hosts.enable"
	opDeleteHost            = "hosts.delete"
	opListRelays            = "relays.list"
	opListSessions          = "sessions.list"
	opReevaluate            = "sessions.reevaluate"
	opListLocks             = "locks.list"
	opCreateLock            = "locks.create"
	opRemoveLock            = "locks.remove"
)

// authorizeAPI authenticates the caller and asks the API policy (data.portcullis.api) whether
// it may perform op (on host, when the operation names one). The decision is committed to the
// decision log first; a refusal writes 403 with the policy's reasons, a store or policy failure
// refuses (fail closed). It returns the claims and the decision record's id.
func (s *Server) authorizeAPI(w http.ResponseWriter, r *http.Request, op string, host store.Host) (identity.Claims, string, bool) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return identity.Claims{}, "", false
	}
	d, err := s.decideAPI(r, claims, op, host)
	switch {
	case err != nil && op == opCreateLock && d.Allow && s.pending.addDecision(d):
		// The emergency brake (emergency.go): a lock only takes access away, so an allowed
		// one acts now and its decision is recorded when the store is back.
		s.cfg.Logger.Warn("lock allowed before its decision is recorded", "decision_id", d.ID, "err", err)
		return claims, d.ID, true
	case err != nil:
		s.decisionLogDown(w, err)
		return identity.Claims{}, "", false
	case !d.Allow:
		writeError(w, api.Error{Code: access.ErrForbidden, Message: "refused by policy", Reasons: d.Reasons, DecisionID: d.ID})
		return identity.Claims{}, "", false
	}
	return claims, d.ID, true
}

// decideAPI evaluates data.portcullis.api for op and commits the decision record under
// portcullis/api/<op>. A policy failure is recorded as a refusal.
func (s *Server) decideAPI(r *http.Request, claims identity.Claims, op string, host store.Host) (store.Decision, error) {
	now := s.cfg.Now()
	in := policy.Input{
		Subject: subjectOf(claims),
		Request: policy.Request{Action: policy.ActionAdminister, Operation: op},
		Context: policy.Context{Time: now, GuestAddr: remoteIP(r)},
	}
	if host.ID != "" || host.Tenant != "" || len(host.Tags) > 0 {
		in.Host = policy.Host{ID: host.ID, Name: host.Name, Tenant: host.Tenant, OS: host.OS, Tags: host.Tags}
	}
	engine := s.cfg.Policy.Current()
	res, err := engine.DecideAPI(r.Context(), in)
	if err != nil {
		s.cfg.Logger.Error("API policy evaluation", "op", op, "err", err)
		res = denyResult(reasonPolicyFailure)
	}
	return s.commit(r.Context(), logEntry{
		engine: engine, now: now, path: apiPathPrefix + op, subject: claims.Subject,
		hostID: host.ID, hostName: host.Name, input: in, result: res,
	})
}

func (s *Server) handleListHosts(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.authorizeAPI(w, r, opListHosts, store.Host{}); !ok {
		return
	}
	hosts, err := s.cfg.Store.ListHosts(r.Context())
	if err != nil {
		s.cfg.Logger.Error("list hosts", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	now := s.cfg.Now()
	out := make([]api.HostInfo, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, s.hostInfo(h, now))
	}
	writeJSON(w, http.StatusOK, out)
}

// hostInfo renders a host for the API, with its live presence.
func (s *Server) hostInfo(h store.Host, now time.Time) api.HostInfo {
	online, seen := s.presence.online(h.ID, now, 3*s.cfg.HeartbeatInterval)
	if seen.IsZero() {
		seen = h.LastSeen
	}
	return api.HostInfo{ID: h.ID, Name: h.Name, Tenant: h.Tenant, OS: h.OS, Tags: h.Tags, Disabled: h.Disabled, Online: online, LastSeen: seen}
}

// targetHost loads the host a host-management request names by id or by name; it writes 404
// or 503 and returns false when it cannot.
func (s *Server) targetHost(w http.ResponseWriter, r *http.Request) (store.Host, bool) {
	ref := r.PathValue("host")
	h, err := s.cfg.Store.GetHost(r.Context(), ref)
	if errors.Is(err, store.ErrNotFound) {
		h, err = s.cfg.Store.GetHostByName(r.Context(), ref)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no host " + ref})
		return store.Host{}, false
	case err != nil:
		s.cfg.Logger.Error("load host", "host_name", ref, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return store.Host{}, false
	}
	return h, true
}

// handleSetHostDisabled returns the handler that disables (or re-enables) a host.
func (s *Server) handleSetHostDisabled(disabled bool) http.HandlerFunc {
	op := opEnableHost
	if disabled {
		op = opDisableHost
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := s.targetHost(w, r)
		if !ok {
			return
		}
		claims, dec, ok := s.authorizeAPI(w, r, op, h)
		if !ok {
			return
		}
		s.hostIdentities.forget(h.ID)
		if err := s.cfg.Store.SetHostDisabled(r.Context(), h.ID, disabled); err != nil {
			s.hostStoreError(w, "set host disabled", err)
			return
		}
		if disabled {
			s.presence.forget(h.ID)
		}
		s.cfg.Logger.Info("host "+map[bool]string{true: "disabled", false: "enabled"}[disabled], "host_id", h.ID, "host_name", h.Name, "by", claims.Subject, "decision_id", dec)
		h.Disabled = disabled
		writeJSON(w, http.StatusOK, s.hostInfo(h, s.cfg.Now()))
	}
}

func (s *Server) handleDeleteHost(w http.ResponseWriter, r *http.Request) {
	h, ok := s.targetHost(w, r)
	if !ok {
		return
	}
	claims, dec, ok := s.authorizeAPI(w, r, opDeleteHost, h)
	if !ok {
		return
	}
	s.hostIdentities.forget(h.ID)
	if err := s.cfg.Store.DeleteHost(r.Context(), h.ID); err != nil {
		s.hostStoreError(w, "delete host", err)
		return
	}
	s.presence.forget(h.ID)
	s.cfg.Logger.Info("host deleted", "host_id", h.ID, "host_name", h.Name, "by", claims.Subject, "decision_id", dec)
	w.WriteHeader(http.StatusNoContent)
}

// hostStoreError answers a failed host update: 404 when the host vanished, 503 otherwise.
func (s *Server) hostStoreError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such host"})
		return
	}
	s.cfg.Logger.Error(what, "err", err)
	writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
}

func (s *Server) handleListRelays(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.authorizeAPI(w, r, opListRelays, store.Host{}); !ok {
		return
	}
	now := s.cfg.Now()
	healthy, err := s.relayCandidates(r.Context(), now)
	if err != nil {
		s.cfg.Logger.Error("list relays", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	out := make([]api.RelayInfo, 0, len(healthy))
	for _, rel := range healthy {
		out = append(out, api.RelayInfo{
			RelayRegistration: api.RelayRegistration{ID: rel.ID, Addr: rel.Addr, Region: rel.Region, Owner: rel.Owner, Private: rel.Private, Sessions: rel.Sessions, BytesPerSec: rel.BytesPerSec},
			Healthy:           true, LastSeen: rel.LastSeen,
		})
	}
	writeJSON(w, http.StatusOK, out)
}
