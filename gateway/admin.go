package gateway

import (
	"net/http"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// admin authenticates the caller and checks that it is an administrator.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) (identity.Claims, bool) {
	claims, ok := s.guest(w, r)
	if !ok {
		return identity.Claims{}, false
	}
	if !inGroups(claims, s.cfg.AdminGroups) {
		writeError(w, http.StatusForbidden, api.Error{Code: api.CodeForbidden, Message: "administrators only"})
		return identity.Claims{}, false
	}
	return claims, true
}

func (s *Server) handleListHosts(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.admin(w, r); !ok {
		return
	}
	hosts, err := s.cfg.Store.ListHosts(r.Context())
	if err != nil {
		s.cfg.Logger.Error("list hosts", "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
		return
	}
	now := s.cfg.Now()
	out := make([]api.HostInfo, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, s.hostInfo(h, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleListRelays(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.admin(w, r); !ok {
		return
	}
	now := s.cfg.Now()
	healthy, err := s.relayCandidates(r.Context(), now)
	if err != nil {
		s.cfg.Logger.Error("list relays", "err", err)
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "store unavailable"})
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

// hostInfo describes a Host as the API shows it, with its presence at now.
func (s *Server) hostInfo(h store.Host, now time.Time) api.HostInfo {
	online, seen := s.presence.online(h.ID, now, 3*s.cfg.HeartbeatInterval)
	if seen.IsZero() {
		seen = h.LastSeen
	}
	return api.HostInfo{ID: h.ID, Name: h.Name, Tenant: h.Tenant, OS: h.OS, Tags: h.Tags, Disabled: h.Disabled, Online: online, LastSeen: seen}
}
