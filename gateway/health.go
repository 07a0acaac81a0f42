package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/api"
)

// Health checks for load balancers. Both answer without authentication and reveal nothing but
// up or ready; neither is recorded in the decision log.
//
//	GET /healthz   200 while the process serves (liveness)
//	GET /readyz    200 when the store answers a ping within readyTimeout and a policy is
//	               loaded, else 503 with a short reason (readiness)

// readyTimeout bounds the store's answer to a readiness check: a database that hangs makes the
// CM unready, not the check slow.
const readyTimeout = time.Second

// Reasons a CM is not ready, as GET /readyz gives them.
const (
	notReadyStore  = "store unavailable"
	notReadyPolicy = "no policy loaded"
)

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Health{Status: api.HealthOK})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if reason := s.notReady(r.Context()); reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: api.HealthUnavailable, Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, api.Health{Status: api.HealthOK})
}

// notReady returns why the CM cannot decide a connect now, or "" when it can.
func (s *Server) notReady(ctx context.Context) string {
	if s.cfg.Policy.Current() == nil {
		return notReadyPolicy
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.cfg.Logger.Warn("readiness check: store unavailable", "err", err)
		return notReadyStore
	}
	return ""
}
