package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// reachableScan bounds how many Hosts one page of GET /v1/me/hosts decides: a page ends when it
// holds its limit of reachable Hosts or has decided this many, whichever comes first, so that
// a request's cost stays bounded however large the fleet (a page may then hold fewer Hosts
// than its limit, none even, and still name a next page).
const reachableScan = 2000

// handleReachableHosts answers GET /v1/me/hosts: a page of the enabled Hosts, by name, that
// the policy would let the caller connect to now, with what it would grant, and
// api.HeaderNextCursor when a page follows (query parameters limit and cursor, as every
// listing). It evaluates the same decision as connect (action "connect", no channels named, so
// the policy grants every channel it permits) once per Host, mints nothing and records no
// decision: a listing grants nothing, and recording one decision per Host per listing would
// bury the connect decisions the log exists for. A policy error on a Host leaves that Host out
// (fail closed).
func (s *Server) handleReachableHosts(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	limit, after, err := pageQuery(r.URL.Query())
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	hosts, next, err := s.reachablePage(r, claims, after, min(limit, store.MaxHostLimit)) // pageQuery refused a negative limit
	if err == nil {
		err = writePage(w, hosts, next, func(h api.ReachableHost) any { return h },
			func(h api.ReachableHost) string { return store.HostCursor(store.Host{Name: h.Name}) },
			func(page []json.RawMessage) any {
				return struct {
					Principal string            `json:"principal"`
					Hosts     []json.RawMessage `json:"hosts"`
				}{claims.Subject, page}
			})
	}
	if err != nil {
		s.storeUnavailable(w, "list reachable hosts", err)
	}
}

// reachablePage decides the Hosts after the cursor after, by name, until it holds limit
// reachable ones (store.DefaultHostLimit when 0) or has decided reachableScan, and returns
// them with the cursor of the Hosts left to decide ("" when none are left).
func (s *Server) reachablePage(r *http.Request, claims identity.Claims, after string, limit int) ([]api.ReachableHost, string, error) {
	if limit == 0 {
		limit = store.DefaultHostLimit
	}
	ctx, now := r.Context(), s.cfg.Now()
	relays, err := s.relayCandidates(ctx, now)
	if err != nil {
		return nil, "", err
	}
	engine := s.cfg.Policy.Current() // one policy for the whole page
	base := connectAttempt{claims: claims, now: now, relays: relays}
	out := []api.ReachableHost{}
	for scanned := 0; ; {
		hosts, next, err := s.cfg.Store.ListHosts(ctx, after, min(store.MaxHostLimit, reachableScan-scanned))
		if err != nil {
			return nil, "", err
		}
		for i, h := range hosts {
			scanned++
			if rh, ok := s.reachable(r, engine, base, h); ok {
				out = append(out, rh)
			}
			if len(out) == limit || scanned == reachableScan {
				if i == len(hosts)-1 && next == "" {
					return out, "", nil
				}
				return out, store.HostCursor(h), nil
			}
		}
		if next == "" {
			return out, "", nil
		}
		after = next
	}
}

// reachable decides whether the caller of base may connect to h now, and what that would grant.
func (s *Server) reachable(r *http.Request, engine *policy.Engine, base connectAttempt, h store.Host) (api.ReachableHost, bool) {
	if h.Disabled {
		return api.ReachableHost{}, false
	}
	a := &base
	a.host, a.req = h, api.ConnectRequest{Host: h.Name}
	res, err := engine.Decide(r.Context(), s.policyInput(r, a))
	if err != nil {
		s.cfg.Logger.Warn("policy evaluation for a host listing", "host_name", h.Name, "err", err)
		return api.ReachableHost{}, false
	}
	if !res.Decision.Allow {
		return api.ReachableHost{}, false
	}
	obl := res.Decision.Obligations
	return api.ReachableHost{HostInfo: s.hostInfo(h, a.now), Channels: obl.Channels, MinEncryption: obl.MinEncryption}, true
}
