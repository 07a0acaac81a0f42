package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// relayCacheTTL is how long the CM reuses its list of relays before reading the store again.
const relayCacheTTL = time.Second

// relayRegistry caches the relays registered in the store, which all CM replicas share.
type relayRegistry struct {
	mu      sync.Mutex
	relays  []store.Relay
	fetched time.Time
}

func newRelayRegistry() *relayRegistry { return &relayRegistry{} }

func (rr *relayRegistry) list(ctx context.Context, st *store.DB, now time.Time) ([]store.Relay, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if now.Sub(rr.fetched) < relayCacheTTL && rr.relays != nil {
		return rr.relays, nil
	}
	relays, err := st.ListRelays(ctx)
	if err != nil {
		return nil, fmt.Errorf("list relays: %w", err)
	}
	rr.relays, rr.fetched = relays, now
	return relays, nil
}

func (rr *relayRegistry) invalidate() {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.relays = nil
}

func (s *Server) handleRelayRegister(w http.ResponseWriter, r *http.Request) {
	if !s.relay(w, r) {
		return
	}
	var req api.RelayRegistration
	if !readJSON(w, r, &req) {
		return
	}
	if req.ID == "" || req.Addr == "" {
		writeError(w, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest, Message: "relay id and addr are required"})
		return
	}
	rel := store.Relay{
		ID: req.ID, Addr: req.Addr, Region: req.Region, Owner: req.Owner, Private: req.Private,
		Sessions: req.Sessions, BytesPerSec: req.BytesPerSec, Healthy: true, LastSeen: s.cfg.Now(),
	}
	if rel.Owner == "" {
		rel.Owner = "vendor"
	}
	if err := s.cfg.Store.UpsertRelay(r.Context(), rel); err != nil {
		s.cfg.Logger.Error("register relay", "relay", req.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
		return
	}
	s.relays.invalidate()
	writeJSON(w, http.StatusOK, api.RelayRegistrationResponse{IntervalSeconds: int64(s.cfg.RelayInterval / time.Second)})
}

func (s *Server) handleRelaySessionEnd(w http.ResponseWriter, r *http.Request) {
	if !s.relay(w, r) {
		return
	}
	var req api.SessionEnd
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.cfg.Store.EndSession(r.Context(), req.SessionID, req.Ended, req.BytesUp, req.BytesDown, req.Reason); err != nil {
		s.cfg.Logger.Warn("record session end", "session", req.SessionID, "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// relayCandidates returns the healthy relays, which is what the policy sees.
func (s *Server) relayCandidates(ctx context.Context, now time.Time) ([]store.Relay, error) {
	all, err := s.relays.list(ctx, s.cfg.Store, now)
	if err != nil {
		return nil, err
	}
	stale := 3 * s.cfg.RelayInterval
	var out []store.Relay
	for _, rel := range all {
		if rel.Healthy && now.Sub(rel.LastSeen) <= stale {
			out = append(out, rel)
		}
	}
	return out, nil
}

// pickRelay chooses the least loaded candidate that the obligations and the Host's tenant allow.
func pickRelay(cands []store.Relay, obl policy.Obligations, tenant string) (store.Relay, bool) {
	var best store.Relay
	found := false
	for _, rel := range cands {
		if rel.Private && rel.Owner != tenant {
			continue // a tenant's private relay never carries another tenant's sessions
		}
		if obl.PrivateRelaysOnly && !rel.Private {
			continue
		}
		if len(obl.RelayRegions) > 0 && !slices.Contains(obl.RelayRegions, rel.Region) {
			continue
		}
		if !found || rel.Sessions < best.Sessions {
			best, found = rel, true
		}
	}
	return best, found
}
