package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
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
	// Operations on the decision log and the policy, which data.portcullis.authz decides
	// (action query_decisions).
	opQueryDecisions = "decisions.query"
	opReadDecision   = "decisions.read"
	opPolicyStatus   = "policy.status"
)

// handleListHosts lists a page of the enrolled Hosts by name, as handleListSessions lists
// sessions.
func (s *Server) handleListHosts(w http.ResponseWriter, r *http.Request) {
	var limit int
	var after string
	_, ok := s.gate(w, r, adminOp(opListHosts, "", api.QueryLimit, api.QueryCursor), func(c *apiCall) error {
		var err error
		limit, after, err = pageQuery(c.query)
		return err
	})
	if !ok {
		return
	}
	hosts, next, err := s.cfg.Store.ListHosts(r.Context(), after, limit)
	if err == nil {
		now := s.cfg.Now()
		err = writeArrayPage(w, hosts, next, func(h store.Host) any { return s.hostInfo(h, now) }, store.HostCursor)
	}
	if err != nil {
		s.storeUnavailable(w, "list hosts", err)
	}
}

// hostInfo renders a host for the API, with its live presence.
func (s *Server) hostInfo(h store.Host, now time.Time) api.HostInfo {
	online, seen := s.presence.online(h, now, 3*s.cfg.HeartbeatInterval)
	if seen.IsZero() {
		seen = h.LastSeen
	}
	return api.HostInfo{ID: h.ID, Name: h.Name, Tenant: h.Tenant, OS: h.OS, Tags: h.Tags, Disabled: h.Disabled, Online: online, LastSeen: seen}
}

// targetHost looks up, for the gate, the Host a host-management call names by id or by name.
// The policy sees it; when it does not exist the policy sees only the name, and only an
// authorized caller is told so.
func (s *Server) targetHost(c *apiCall, r *http.Request) error {
	h, err := s.cfg.Store.GetHost(r.Context(), c.target)
	if errors.Is(err, store.ErrNotFound) {
		h, err = s.cfg.Store.GetHostByName(r.Context(), c.target)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.host, c.missing = store.Host{Name: c.target}, "no host "+c.target
		return nil
	case err != nil:
		return fmt.Errorf("load host %s: %w", c.target, err)
	}
	c.host = h
	return nil
}

// hostOp is a host-management operation on the Host the path names.
func (s *Server) hostOp(w http.ResponseWriter, r *http.Request, op string) (*apiCall, bool) {
	return s.gate(w, r, adminOp(op, "host"), func(c *apiCall) error { return s.targetHost(c, r) })
}

// handleSetHostDisabled returns the handler that disables (or re-enables) a host.
func (s *Server) handleSetHostDisabled(disabled bool) http.HandlerFunc {
	op := opEnableHost
	if disabled {
		op = opDisableHost
	}
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.hostOp(w, r, op)
		if !ok {
			return
		}
		h := c.host
		s.hostIdentities.forget(h.ID)
		if err := s.cfg.Store.SetHostDisabled(r.Context(), h.ID, disabled); err != nil {
			s.hostStoreError(w, "set host disabled", err)
			return
		}
		if disabled {
			s.forgetHost(h.ID)
		}
		s.cfg.Logger.Info("host "+map[bool]string{true: "disabled", false: "enabled"}[disabled], "host_id", h.ID, "host_name", h.Name, "by", c.claims.Subject, "decision_id", c.decisionID)
		h.Disabled = disabled
		writeJSON(w, http.StatusOK, s.hostInfo(h, s.cfg.Now()))
	}
}

func (s *Server) handleDeleteHost(w http.ResponseWriter, r *http.Request) {
	c, ok := s.hostOp(w, r, opDeleteHost)
	if !ok {
		return
	}
	h := c.host
	s.hostIdentities.forget(h.ID)
	if err := s.cfg.Store.DeleteHost(r.Context(), h.ID); err != nil {
		s.hostStoreError(w, "delete host", err)
		return
	}
	s.forgetHost(h.ID)
	s.cfg.Logger.Info("host deleted", "host_id", h.ID, "host_name", h.Name, "by", c.claims.Subject, "decision_id", c.decisionID)
	w.WriteHeader(http.StatusNoContent)
}

// forgetHost drops a disabled or deleted Host's presence here and wakes its long-polls here,
// which then refuse it.
func (s *Server) forgetHost(id string) {
	s.presence.forget(id)
	s.mail.wakeUp(store.HostMailbox(id))
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
	if _, ok := s.gate(w, r, adminOp(opListRelays, ""), nil); !ok {
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
