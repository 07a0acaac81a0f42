package host

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/api"
)

// reportTimeout bounds a Host's report of a finished session to the CM.
const reportTimeout = 10 * time.Second

// liveSessions holds the cancel functions of a Host's live sessions, so that the CM's order to
// end one (a lock, a policy change) reaches it.
type liveSessions struct {
	mu     sync.Mutex
	cancel map[string]context.CancelCauseFunc
}

// errEnded is the cause of a session ended on the CM's order; its text is the CM's reason.
type errEnded struct{ reason string }

// Error returns the CM's reason.
func (e errEnded) Error() string { return e.reason }

// start registers session id and returns its context; done must be called when it ends.
func (l *liveSessions) start(ctx context.Context, id string) (context.Context, func()) {
	sctx, cancel := context.WithCancelCause(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel == nil {
		l.cancel = map[string]context.CancelCauseFunc{}
	}
	l.cancel[id] = cancel
	return sctx, func() {
		l.mu.Lock()
		delete(l.cancel, id)
		l.mu.Unlock()
		cancel(nil)
	}
}

// end ends session id for reason; false when the Host does not hold it.
func (l *liveSessions) end(id, reason string) bool {
	l.mu.Lock()
	cancel, ok := l.cancel[id]
	l.mu.Unlock()
	if ok {
		cancel(errEnded{reason: reason})
	}
	return ok
}

// endReason says why a session ended as the Host saw it: the CM's order, the maximum
// duration, or "" when the Guest hung up or the connection failed (the CS's report tells).
func endReason(sctx context.Context, err error) string {
	var ended errEnded
	switch {
	case errors.As(context.Cause(sctx), &ended):
		return ended.reason
	case errors.Is(err, ErrSessionExpired):
		return api.ReasonMaxDuration
	}
	return ""
}

// reportEnd tells the CM how a session ended on this Host and how many channels it opened.
func (h *Agent) reportEnd(ctx context.Context, rt *hostRuntime, id string, channels *atomic.Int64, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	end := api.HostSessionEnd{SessionID: id, ChannelsOpened: channels.Load(), Reason: reason}
	if err := api.Call(ctx, rt.cm(), http.MethodPost, h.CMURL+api.PathHostSessionEnd, "", end, nil); err != nil {
		h.logger().Warn("report session end to the CM", "session_id", id, "err", err)
	}
}
