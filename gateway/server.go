package gateway

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/translog"
)

// Server is the Connection Manager. Create it with New.
type Server struct {
	cfg      Config
	presence *presence
	// heartbeatBodies recycles the buffers heartbeat bodies are read into.
	heartbeatBodies sync.Pool
	relays          *relayRegistry
	hostIdentities  *hostIdentityCache
	mail            *mailWaiters
	hostGate        *admission
	// live and pending let a lock end sessions while the store is down (emergency.go).
	live    *liveCache
	pending *pendingWrites
	// locksMade counts the locks this replica made, stored or pending: a connect that read the
	// locks before one was made reads them again once its session is committed (locks.go).
	locksMade atomic.Uint64
	// lease says whether this replica does the singleton work; relayWatch is that work's
	// memory of the relays alive in the store (lease.go).
	lease      *singletonLease
	relayWatch relayWatch
	// logTree is the sequencer's tree as of its last step (translog.go), and vanishedSwept when
	// a step last dropped the records deleted behind the CM's back; Run's alone.
	logTree       *translog.Tree
	vanishedSwept time.Time
	// signed remembers the leaves of the records this replica signed until they are logged.
	signed signedLeaves
	// unlogged says that this replica committed records since the sequencer's last step.
	unlogged atomic.Bool
	mux      *http.ServeMux
	// requests numbers the requests served, for the decision records' req_id.
	requests atomic.Uint64
	// durations times the requests served (portcullis_cm_request_duration_seconds).
	durations *prometheus.HistogramVec
	// connectTimes times the steps of each connect (portcullis_cm_connect_step_seconds).
	connectTimes *connectTimes
	// shipper ships the decision outbox to a collector; nil when not configured.
	shipper *logship.Shipper
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{
		cfg:            cfg,
		presence:       newPresence(pollRefresh(cfg.HeartbeatInterval)),
		relays:         newRelayRegistry(),
		hostIdentities: newHostIdentityCache(),
		mux:            http.NewServeMux(),
		durations:      newRequestDurations(),
		connectTimes:   newConnectTimes(),
	}
	s.mail = newMailWaiters()
	s.live, s.pending = newLiveCache(), newPendingWrites()
	s.hostGate = newAdmission(maxHostAdmissions)
	s.lease = newSingletonLease(cfg.Store, cfg.Instance, cfg.Logger)
	if ship := cfg.DecisionLogShipping; ship.URL != "" {
		ship.Outbox, ship.Leader, ship.Logger = cfg.Store, s.lease.held, cfg.Logger.With("component", "logship")
		var err error
		if s.shipper, err = logship.New(ship); err != nil {
			return nil, fmt.Errorf("gateway: decision-log shipping: %w", err)
		}
	}
	metrics, err := metricsHandler(cfg.Policy, s.lease, s.mail, s.shipper,
		append(cfg.Store.Collectors(), s.durations, s.connectTimes.vec)...)
	if err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	s.routes(metrics)
	return s, nil
}

// Handler returns the CM's HTTP handler.
func (s *Server) Handler() http.Handler {
	return s.numberRequests(instrumentRequests(s.durations, s.mux))
}

// Handle mounts an extra handler (for example the development identity provider).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Run flushes batched Host presence to the store and wakes the long-polls whose agents other
// replicas posted mail for (mail.go), until ctx ends; then it flushes once more. While this
// replica holds the singleton lease (lease.go) it also records the sessions of relays that
// went silent as ended, discards expired mail (ending the sessions whose Host never collected
// its request), appends committed records to the transparency log (translog.go) and
// re-evaluates live sessions (at the start, periodically, on taking the lease over and after a
// policy reload: at once when the policy is a policy.Notifier, else within runTick; a pass
// that failed again after a growing wait, see liveCheck) in a goroutine of its own
// (livePasses), and ships the decision outbox
// when DecisionLogShipping is configured. Ending ctx stops renewing the lease without
// releasing it (see ReleaseLease).
func (s *Server) Run(ctx context.Context) error {
	flush := time.NewTicker(s.cfg.HeartbeatInterval)
	defer flush.Stop()
	sweep := time.NewTicker(s.cfg.RelayStale)
	defer sweep.Stop()
	reeval := time.NewTicker(s.cfg.ReevaluateInterval)
	defer reeval.Stop()
	tick := time.NewTicker(runTick)
	defer tick.Stop()
	sequence := time.NewTicker(sequenceTick)
	defer sequence.Stop()
	mailCtx, stopMail := context.WithCancel(ctx)
	mailDone := make(chan struct{})
	go func() { defer close(mailDone); s.watchMail(mailCtx) }()
	defer func() { stopMail(); <-mailDone }()
	gained := make(chan struct{}, 1)
	leaseCtx, stopLease := context.WithCancel(ctx)
	leaseDone := make(chan struct{})
	go func() { defer close(leaseDone); s.lease.keep(leaseCtx, gained) }()
	defer func() { stopLease(); <-leaseDone }()
	if s.shipper != nil {
		shipCtx, stopShip := context.WithCancel(ctx)
		shipDone := make(chan struct{})
		go func() { defer close(shipDone); _ = s.shipper.Run(shipCtx) }()
		defer func() { stopShip(); <-shipDone }()
	}
	passes := s.startLivePasses(ctx)
	defer passes.wait() // Run returns only once ctx has ended, which stops the passes
	reloaded := policyChanges(s.cfg.Policy)
	for {
		select {
		case <-reloaded:
			reloaded = policyChanges(s.cfg.Policy) // before re-evaluating: a change meanwhile is not missed
			passes.request(false)
		case <-ctx.Done():
			return s.flushPresence(context.WithoutCancel(ctx))
		case <-flush.C:
			if err := s.flushPresence(ctx); err != nil {
				s.cfg.Logger.Warn("flush host presence", "err", err)
			}
		case <-gained: // the previous holder may have died before doing the singleton work
			s.sweepRelays(ctx)
			passes.request(true)
		case <-sweep.C:
			s.sweepRelays(ctx)
		case <-tick.C:
			if err := s.flushPending(ctx); err != nil {
				s.cfg.Logger.Warn("record locks made while the store was down", "err", err)
			}
			if s.lease.held() {
				if err := s.discardExpiredMail(ctx); err != nil {
					s.cfg.Logger.Warn("discard expired mail", "err", err)
				}
				s.sequenceHeld(ctx)
			}
			passes.request(false)
		case <-sequence.C:
			s.sequenceCommitted(ctx)
		case <-reeval.C:
			passes.request(true)
		}
	}
}

// flushPresence writes the signs of life this replica saw since the last flush (heartbeats,
// and the Hosts long-polling here) to the store in one batch; a batch the store refuses waits
// for the next flush.
func (s *Server) flushPresence(ctx context.Context) error {
	seen := s.presence.drainDirty(s.cfg.Now())
	if len(seen) == 0 {
		return nil
	}
	if err := s.cfg.Store.TouchHosts(ctx, seen); err != nil {
		s.presence.requeue(seen)
		return fmt.Errorf("touch hosts: %w", err)
	}
	return nil
}

func (s *Server) routes(metrics http.Handler) {
	s.mux.HandleFunc("GET "+api.PathAuthConfig, s.handleAuthConfig)
	s.mux.HandleFunc("POST "+api.PathCredential, s.handleCredential)
	s.mux.HandleFunc("GET "+api.PathWhoAmI, s.handleWhoAmI)
	s.mux.HandleFunc("GET "+api.PathTicketKeys, s.handleTicketKeys)
	s.mux.HandleFunc("POST "+api.PathEnrollmentTokens, s.handleCreateEnrollmentToken)
	s.mux.HandleFunc("POST "+api.PathEnroll, s.handleEnroll)
	s.mux.HandleFunc("POST "+api.PathHeartbeat, s.handleHeartbeat)
	s.mux.HandleFunc("GET "+api.PathHostRequests, s.handleHostRequests)
	s.mux.HandleFunc("POST "+api.PathHostRenew, s.handleRenewHost)
	s.mux.HandleFunc("POST "+api.PathSignedHeartbeat, s.handleSignedHeartbeat)
	s.mux.HandleFunc("POST "+api.PathRelayRegister, s.handleRelayRegister)
	s.mux.HandleFunc("POST "+api.PathRelaySessionEnd, s.handleRelaySessionEnd)
	s.mux.HandleFunc("POST "+api.PathRelayPaired, s.handleRelayPaired)
	s.mux.HandleFunc("POST "+api.PathRelayEnroll, s.handleRelayEnroll)
	s.mux.HandleFunc("GET "+api.PathRelayProbes, s.handleRelayProbes)
	s.mux.HandleFunc("POST "+api.PathConnect, s.handleConnect)
	s.mux.HandleFunc("GET "+api.PathDecisions, s.handleListDecisions)
	s.mux.HandleFunc("GET "+api.PathDecisions+"/{id}", s.handleGetDecision)
	s.mux.HandleFunc("GET "+api.PathPolicyStatus, s.handlePolicyStatus)
	s.mux.Handle("GET "+api.PathMetrics, metrics)
	s.mux.HandleFunc("GET "+api.PathHosts, s.handleListHosts)
	s.mux.HandleFunc("POST "+api.PathHosts+"/{host}/disable", s.handleSetHostDisabled(true))
	s.mux.HandleFunc("POST "+api.PathHosts+"/{host}/enable", s.handleSetHostDisabled(false))
	s.mux.HandleFunc("DELETE "+api.PathHosts+"/{host}", s.handleDeleteHost)
	s.mux.HandleFunc("GET "+api.PathRelays, s.handleListRelays)
	s.mux.HandleFunc("GET "+api.PathReachableHosts, s.handleReachableHosts)
	s.mux.HandleFunc("GET "+api.PathRelayCommands, s.handleRelayCommands)
	s.mux.HandleFunc("POST "+api.PathHostSessionEnd, s.handleHostSessionEnd)
	s.mux.HandleFunc("GET "+api.PathSessions, s.handleListSessions)
	s.mux.HandleFunc("GET "+api.PathSessions+"/{id}", s.handleGetSession)
	s.mux.HandleFunc("POST "+api.PathSessions+"/{id}/refuse", s.handleRefuseSession)
	s.mux.HandleFunc("POST "+api.PathReevaluate, s.handleReevaluate)
	s.mux.HandleFunc("POST "+api.PathLocks, s.handleCreateLock)
	s.mux.HandleFunc("GET "+api.PathLocks, s.handleListLocks)
	s.mux.HandleFunc("DELETE "+api.PathLocks+"/{id}", s.handleRemoveLock)
	s.mux.HandleFunc("GET "+api.PathHealthz, s.handleHealthz)
	s.mux.HandleFunc("GET "+api.PathReadyz, s.handleReadyz)
	s.logRoutes()
}

func (s *Server) handleAuthConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.AuthConfig)
}

func (s *Server) handleTicketKeys(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.TicketKeys)
}

// newID returns a new identifier with a prefix, e.g. "dec_019ae3c1f2a4…": 48 bits of the
// current Unix time in milliseconds, then 80 random bits, in hex (the layout of a UUIDv7).
// Identifiers made later sort later, so the store's indexes on them grow at one end instead of
// touching a random page per insert, and 80 random bits keep them unguessable.
func newID(prefix string) string {
	return newIDAt(prefix, time.Now())
}

// newIDAt is newID at a given time.
func newIDAt(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16) // the low 48 bits, first
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONBytes writes body, already encoded JSON, as writeJSON would write its value.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e api.Error) {
	writeJSON(w, e.Code.HTTPStatus(), e)
}

// readJSON decodes a bounded request body into v, refusing unknown fields; it answers 400 and
// returns false when the body is malformed.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeJSON(w, r, v); err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return false
	}
	return true
}

// decodeJSON decodes a request body of at most maxBodyBytes into v, refusing unknown fields; a
// malformed body is a requestError.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONUpTo(w, r, v, maxBodyBytes)
}

// decodeJSONUpTo is decodeJSON for a body of at most limit bytes.
func decodeJSONUpTo(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed request: %v", err)
	}
	return nil
}
