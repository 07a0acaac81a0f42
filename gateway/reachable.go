package gateway

import (
	"net/http"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// handleReachableHosts answers GET /v1/me/hosts: every enabled Host the policy would let the
// caller connect to now, with what it would grant. It evaluates the same decision as connect
// (action "connect", no channels named, so the policy grants every channel it permits) once
// per Host, mints nothing and records no decision: a listing grants nothing, and recording one
// decision per Host per listing would bury the connect decisions the log exists for. A policy
// error on a Host leaves that Host out (fail closed).
func (s *Server) handleReachableHosts(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	now := s.cfg.Now()
	hosts, err := s.cfg.Store.ListHosts(ctx)
	var relays []store.Relay
	if err == nil {
		relays, err = s.relayCandidates(ctx, now)
	}
	if err != nil {
		s.cfg.Logger.Error("list reachable hosts", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
		return
	}
	engine := s.cfg.Policy.Current() // one policy for the whole listing
	out := api.ReachableHosts{Principal: claims.Subject, Hosts: []api.ReachableHost{}}
	for _, h := range hosts {
		if h.Disabled {
			continue
		}
		a := &connectAttempt{claims: claims, now: now, host: h, relays: relays, req: api.ConnectRequest{Host: h.Name}}
		res, err := engine.Decide(ctx, s.policyInput(r, a))
		if err != nil {
			s.cfg.Logger.Warn("policy evaluation for a host listing", "host_name", h.Name, "err", err)
			continue
		}
		if !res.Decision.Allow {
			continue
		}
		obl := res.Decision.Obligations
		out.Hosts = append(out.Hosts, api.ReachableHost{HostInfo: s.hostInfo(h, now), Channels: obl.Channels, MinEncryption: obl.MinEncryption})
	}
	writeJSON(w, http.StatusOK, out)
}
