//go:build unix

package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

func (hs *haSystem) leaseMoves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	holder := hs.leaseHolder(t)
	hs.c.KillReplica(holder)
	killed := time.Now()
	var next string
	waitUntil(t, "another replica to take the lease of the killed "+holder, func() bool {
		h, err := hs.st.LeaseHolder(ctx, store.LeaseSingleton)
		next = h
		return err == nil && h != "" && h != holder
	})
	took := time.Since(killed)
	t.Logf("kill -9 of the lease holder %s: %s holds the singleton lease %v later (target %v)", holder, next, took.Round(time.Millisecond), haLeaseTarget)
	if took > haLeaseTarget {
		t.Errorf("the lease moved %v after its holder died, want within %v", took, haLeaseTarget)
	}
	if err := hs.c.RestartReplica(ctx, holder, holder+"-after-lease"); err != nil {
		t.Fatal(err)
	}
	if h := hs.leaseHolder(t); h != next {
		t.Errorf("the lease went from %s to %s when %s restarted; want it to stay", next, h, holder)
	}
}

// revisions returns the policy revision each replica serves.
func (hs *haSystem) revisions(t *testing.T) map[string]string {
	t.Helper()
	revs := map[string]string{}
	for _, n := range hs.c.ReplicaNames() {
		ctx, cancel := context.WithTimeout(context.Background(), liveDeadline)
		var st policy.Status
		err := api.Call(ctx, hs.dave.Client, http.MethodGet, hs.c.ReplicaURL(n)+api.PathPolicyStatus, hs.dave.IDToken, nil, &st)
		cancel()
		if err != nil {
			t.Fatalf("policy status of %s: %v", n, err)
		}
		revs[n] = st.Revision
	}
	return revs
}

// labelReevaluated is the label of a decision record made by re-evaluating a live session
// (the gateway's); its value is the session id.
const labelReevaluated = "reevaluated_session"

// reDecisions returns the re-decision records of alice's sessions since since, by session.
func (hs *haSystem) reDecisions(t *testing.T, since time.Time) map[string][]store.Decision {
	t.Helper()
	by := map[string][]store.Decision{}
	for _, d := range hs.decisions(t, since, store.DecisionFilter{Allow: ptr(false)}) {
		if sid := d.Labels[labelReevaluated]; sid != "" {
			by[sid] = append(by[sid], d)
		}
	}
	return by
}

func (hs *haSystem) policyChangeOnce(t *testing.T) {
	holder := hs.leaseHolder(t)
	var sessions []*haSession
	for range 3 {
		sessions = append(sessions, hs.startSession(t, hs.c.CMURL, haHost))
	}
	old := hs.revisions(t)
	changed := time.Now()
	// A security engineer takes staging away from ops: alice's sessions on web-1 are now denied.
	writePolicy(t, hs.policyDir, `"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "prod"}],`)
	var revs map[string]string
	waitUntil(t, "every replica to serve the new policy", func() bool {
		revs = hs.revisions(t)
		for _, n := range hs.c.ReplicaNames() {
			if revs[n] == old[n] || revs[n] != revs[hs.c.ReplicaNames()[0]] {
				return false
			}
		}
		return true
	})
	loaded := time.Since(changed)
	waitUntil(t, "each live session to be re-decided", func() bool {
		by := hs.reDecisions(t, changed)
		for _, s := range sessions {
			if len(by[s.id]) == 0 {
				return false
			}
		}
		return true
	})
	redecided := time.Since(changed)
	time.Sleep(haQuiet) // not a wait for anything: the window in which a duplicate would appear
	by := hs.reDecisions(t, changed)
	for _, s := range sessions {
		recs := by[s.id]
		if len(recs) != 1 {
			t.Errorf("session %s was re-decided %d times, want once: %v", s.id, len(recs), cmLabels(recs))
			continue
		}
		if recs[0].Labels["cm"] != holder || recs[0].Revision != revs[holder] {
			t.Errorf("session %s was re-decided by %q under %q, want by the lease holder %s under %s", s.id, recs[0].Labels["cm"], recs[0].Revision, holder, revs[holder])
		}
	}
	for sid, recs := range by {
		if len(recs) > 1 && !slices.ContainsFunc(sessions, func(s *haSession) bool { return s.id == sid }) {
			t.Errorf("session %s was re-decided %d times: %v", sid, len(recs), cmLabels(recs))
		}
	}
	if h := hs.leaseHolder(t); h != holder {
		t.Errorf("the lease moved from %s to %s during the story", holder, h)
	}
	for _, s := range sessions {
		s.stillTicking(t, "after the re-decision (revocation: warn)")
	}
	t.Logf("every replica served the new policy %v after the change; all %d live sessions had a re-decision within %v (lease holder %s); re-decided sessions %d",
		loaded.Round(time.Millisecond), len(sessions), redecided.Round(time.Millisecond), holder, len(by))
}

// cmLabels lists the replicas that made the records.
func cmLabels(recs []store.Decision) []string {
	var out []string
	for _, d := range recs {
		out = append(out, d.Labels["cm"]+"@"+d.Time.Format("15:04:05.000"))
	}
	slices.Sort(out)
	return out
}
