package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// A pass over the live sessions ends the sessions it denies a batch at a time: their decision
// records commit together (the store's group commit), then their ends and their orders are
// written in a few statements. One session at a time cost three transactions each, seconds
// for a few thousand sessions. A batch waits for at most revokeBatch denials, or revokeWait
// after its first one, so that a slow policy still ends sessions as it goes.
const (
	// revokeBatch bounds the denials a pass holds before acting on them.
	revokeBatch = 128
	// revokeWait bounds how long a denial waits for its batch.
	revokeWait = 50 * time.Millisecond
	// revokeWriteTimeout bounds the writes of a batch, which finish when the pass is stopped:
	// a denial decided is committed and enforced through the store, wherever its Host polls.
	revokeWriteTimeout = 15 * time.Second
)

// revocations is a pass's batch of denials: their records committing, and the sessions to end
// once they have committed.
type revocations struct {
	s    *Server
	pass context.Context   // the pass's context, which the batches' writes outlive
	res  *api.Reevaluation // the pass's result, noted as sessions end
	// first is when the batch's first denial was added; zero for an empty batch.
	first time.Time
	n     int // denials in the batch
	// writes is the context of the batch's writes: the pass's, but not ended with it.
	writes  context.Context
	cancel  context.CancelFunc
	commits sync.WaitGroup
	ends    []revocation // in the order decided
}

// revocation is a session to end and why.
type revocation struct {
	sess   store.Session
	reason string
}

// commit starts committing a denial's record (nil: it could not be made); a record that does
// not commit denies all the same (fail closed).
func (r *revocations) commit(d *store.Decision) {
	r.note()
	if d == nil {
		return
	}
	r.commits.Go(func() {
		if _, err := r.s.insertSigned(r.writes, *d, nil, nil); err != nil {
			r.s.cfg.Logger.Error("re-evaluate: commit decision record", "decision_id", d.ID, "err", err)
		}
	})
}

// end adds a session to end, once the batch's records have committed, for reason.
func (r *revocations) end(sess store.Session, reason string) {
	r.note()
	r.ends = append(r.ends, revocation{sess: sess, reason: reason})
}

// note counts a denial in the batch.
func (r *revocations) note() {
	if r.n == 0 {
		r.first = time.Now()
		r.writes, r.cancel = context.WithTimeout(context.WithoutCancel(r.pass), revokeWriteTimeout)
	}
	r.n++
}

// due reports whether the batch should be acted on now.
func (r *revocations) due() bool {
	return r.n >= revokeBatch || (r.n > 0 && time.Since(r.first) >= revokeWait)
}

// flush waits for the batch's records to commit, then ends its sessions, those with the same
// reason together, and empties the batch.
func (r *revocations) flush() {
	if r.n == 0 {
		return
	}
	defer r.cancel()
	r.commits.Wait()
	var reasons []string
	byReason := map[string][]store.Session{}
	for _, e := range r.ends {
		if _, ok := byReason[e.reason]; !ok {
			reasons = append(reasons, e.reason)
		}
		byReason[e.reason] = append(byReason[e.reason], e.sess)
	}
	for _, reason := range reasons {
		r.res.Ended = append(r.res.Ended, r.s.endSessions(r.writes, byReason[reason], reason)...)
	}
	r.first, r.n, r.ends, r.writes, r.cancel = time.Time{}, 0, nil, nil, nil
}
