package gateway

import (
	"context"
	"sync/atomic"
)

// livePasses runs Run's passes over the live sessions (recheckLive) in a goroutine of their
// own, so that a pass over many sessions, which takes seconds at tens of thousands, holds up
// none of Run's other work: the presence flush, the sequencer, the relay sweep, the discarding
// of expired mail. Requests made while a pass runs fold into one request, served when it ends.
type livePasses struct {
	wake   chan struct{} // holds at most one request
	forced atomic.Bool   // a request was forced (the periodic pass, taking the lease over)
	done   chan struct{} // closed when the goroutine returns
}

// startLivePasses starts the goroutine that serves the requests for passes until ctx ends; the
// periodic pass comes every interval (see liveCheck).
func (s *Server) startLivePasses(ctx context.Context) *livePasses {
	p := &livePasses{wake: make(chan struct{}, 1), done: make(chan struct{})}
	check := newLiveCheck(s.cfg.ReevaluateInterval)
	go func() {
		defer close(p.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				s.recheckLive(ctx, check, p.forced.Swap(false))
			}
		}
	}()
	return p
}

// request asks for a pass: forced, or only when liveCheck says one is due. It never waits.
func (p *livePasses) request(forced bool) {
	if forced {
		p.forced.Store(true)
	}
	select {
	case p.wake <- struct{}{}:
	default: // a request is waiting already; it reads forced when it is served
	}
}

// wait waits for the goroutine to return once Run's context has ended.
func (p *livePasses) wait() { <-p.done }
