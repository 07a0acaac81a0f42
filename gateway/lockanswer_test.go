package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// A lock or a re-evaluation that ends more sessions than an answer lists says how many it
// ended in all and that the list is cut; the answer stays readable however many there are.
func TestALockEndingMoreSessionsThanAnAnswerListsCountsThemAll(t *testing.T) {
	t.Parallel()
	runsInFullInTheUnitPass(t, "this volume test")
	const n = api.MaxListedSessions + 321
	w := startWorld(t)
	dave := w.login(t, "dave@example.com", "")
	bulk := func(subject string) []store.Session {
		ss := make([]store.Session, n)
		for i := range ss {
			ss[i] = store.Session{
				ID: fmt.Sprintf("s-%s-%05d", subject[:3], i), DecisionID: "d-bulk", Subject: subject, HostID: w.hosts["web-1"].id,
				HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
				StartedAt: w.now.Add(-time.Duration(n-i) * time.Second),
			}
		}
		return ss
	}
	createSessions(t, w.store, append(bulk("bob@example.com"), bulk("carol@example.com")...))
	l := w.lock(t, dave, api.LockRequest{User: "bob@example.com", Reason: "offboarding"})
	if l.EndedCount != n || len(l.EndedSessions) != api.MaxListedSessions || !l.EndedSessionsTruncated {
		t.Errorf("the lock's answer counts %d, lists %d, truncated %v; want %d counted, %d listed, truncated",
			l.EndedCount, len(l.EndedSessions), l.EndedSessionsTruncated, n, api.MaxListedSessions)
	}
	// carol's sessions have no decision record: re-evaluation ends each (fail closed).
	var r api.Reevaluation
	if err := w.call(dave, http.MethodPost, api.PathReevaluate, nil, &r); err != nil {
		t.Fatalf("re-evaluate: %v", err)
	}
	if r.EndedCount < n || len(r.Ended) != api.MaxListedSessions || !r.Truncated {
		t.Errorf("the re-evaluation's answer counts %d, lists %d, truncated %v; want at least %d counted, %d listed, truncated",
			r.EndedCount, len(r.Ended), r.Truncated, n, api.MaxListedSessions)
	}
	if left := liveCount(t, w.store, store.LiveFilter{}); left > 2 {
		t.Errorf("%d sessions are still live", left)
	}
}
