package gateway

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
)

// Admission of Host requests: a herd of Hosts reconnecting after a CM restart must not
// overload the CM or its store. Each heartbeat or long-poll needs a slot for its authentication
// (a store read); a Host that does not get one within admissionWait is told to come back after
// a jittered pause, which spreads the herd out.
const (
	// maxHostAdmissions bounds the Host requests being authenticated at once.
	maxHostAdmissions = 64
	// admissionWait is how long a Host request waits for a slot.
	admissionWait = 2 * time.Second
	// minRetryAfter and maxRetryAfter bound the pause a refused Host is asked to take.
	minRetryAfter = 1
	maxRetryAfter = 10
)

// admission is a counting semaphore with a bounded wait.
type admission struct {
	slots chan struct{}
}

func newAdmission(n int) *admission { return &admission{slots: make(chan struct{}, n)} }

// enter takes a slot, waiting up to admissionWait; the returned func gives it back.
func (a *admission) enter(ctx context.Context) (func(), bool) {
	t := time.NewTimer(admissionWait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return func() { <-a.slots }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// admitHost takes a slot for a Host request, or answers 503 with a jittered Retry-After.
func (s *Server) admitHost(w http.ResponseWriter, r *http.Request) (func(), bool) {
	release, ok := s.hostGate.enter(r.Context())
	if !ok {
		secs := minRetryAfter + rand.IntN(maxRetryAfter-minRetryAfter+1)
		w.Header().Set(api.HeaderRetryAfter, strconv.Itoa(secs))
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "the CM is busy; retry later", RetryAfterSeconds: int64(secs)})
	}
	return release, ok
}
