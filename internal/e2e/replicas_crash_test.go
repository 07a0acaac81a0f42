//go:build unix

package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// connectLoadHA runs connects through HAProxy from several workers and notes each attempt.
type connectLoadHA struct {
	hs      *haSystem
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []attempt
}

// attempt is one connect of the load.
type attempt struct {
	start, end time.Time
	decisionID string
	err        error
}

func (hs *haSystem) startLoad(workers int) *connectLoadHA {
	l := &connectLoadHA{hs: hs, stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				a := attempt{start: time.Now()}
				a.decisionID, a.err = hs.connectOnce(context.Background(), hs.alice, hs.c.CMURL, haHost)
				a.end = time.Now()
				l.mu.Lock()
				l.results = append(l.results, a)
				l.mu.Unlock()
			}
		})
	}
	return l
}

// count returns how many finished attempts started at or after from and how many of those
// went through.
func (l *connectLoadHA) count(from time.Time) (finished, ok int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.results {
		if !a.start.Before(from) {
			finished++
			if a.err == nil {
				ok++
			}
		}
	}
	return finished, ok
}

// finish lets the attempts under way end and returns them all.
func (l *connectLoadHA) finish() []attempt {
	close(l.stop)
	l.wg.Wait()
	return l.results
}

func (hs *haSystem) killUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	holder := hs.leaseHolder(t)
	victim := ""
	for _, n := range hs.c.ReplicaNames() {
		if n != holder {
			victim = n // the lease's move is story d's
			break
		}
	}
	if err := hs.c.ShareLogin(hs.alice, hs.c.ReplicaURL(victim)); err != nil {
		t.Fatal(err)
	}
	through := hs.startSession(t, hs.c.ReplicaURL(victim), haHost) // its connect went through the victim
	other := hs.startSession(t, hs.c.CMURL, haHost)
	if by := hs.decidedBy(t, through.decisionID); by != victim {
		t.Fatalf("the connect sent to %s was decided by %q", victim, by)
	}

	since := time.Now()
	load := hs.startLoad(4)
	waitUntil(t, "8 connects to go through before the kill", func() bool { _, ok := load.count(since); return ok >= 8 })
	// Stamped before the signal: KillReplica waits for the exit, and a connect the victim
	// held may see its end (EOF) before that wait returns.
	killed := time.Now()
	hs.c.KillReplica(victim)
	settled := killed.Add(haFailoverTarget)
	waitUntil(t, "12 connects begun 5 s after the kill to end", func() bool {
		finished, _ := load.count(settled)
		return finished >= 12
	})
	results := load.finish()

	var before, during, duringFailed, after int
	var lastFailure time.Duration
	for _, a := range results {
		switch {
		case a.start.Before(killed):
			before++
		case a.start.Before(settled):
			during++
		default:
			after++
		}
		if a.err == nil {
			continue
		}
		if a.start.Before(settled) && a.end.After(killed) {
			duringFailed++
			lastFailure = max(lastFailure, a.end.Sub(killed))
			continue
		}
		t.Errorf("a connect begun %v after %s was killed failed: %v", a.start.Sub(killed).Round(time.Millisecond), victim, a.err)
	}
	t.Logf("kill -9 of %s under load: %d connects begun before the kill, %d in the %v after it (%d failed, the last ending %v after the kill), %d begun later",
		victim, before, during, haFailoverTarget, duringFailed, lastFailure.Round(time.Millisecond), after)
	through.stillTicking(t, "whose connect went through the killed "+victim)
	other.stillTicking(t, "after "+victim+" was killed")
	for _, s := range []*haSession{through, other} {
		if rec, err := hs.st.GetSession(ctx, s.id); err != nil || rec.EndedAt != nil {
			t.Errorf("established session %s after the kill: %+v, %v; want it live", s.id, rec, err)
		}
	}
	hs.checkRecords(t, since, results)

	if err := hs.c.RestartReplica(ctx, victim, victim+"-restarted"); err != nil {
		t.Fatal(err)
	}
}

// checkRecords checks that every allow record of a connect since since names its ticket's
// outcome — granted, with its session committed (the gateway commits both in one
// transaction), or the refusal that stopped the grant — and that every ticket the relay
// honoured and every connect that went through has a committed, granted allow record.
func (hs *haSystem) checkRecords(t *testing.T, since time.Time, results []attempt) {
	t.Helper()
	ctx := context.Background()
	sessions, _, err := hs.st.ListSessions(ctx, store.SessionFilter{Subject: hs.alice.Email, Limit: store.MaxSessionLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) == store.MaxSessionLimit {
		t.Fatalf("alice has %d sessions or more: the check would miss some", store.MaxSessionLimit)
	}
	sessionOf := map[string]string{} // decision id → session id
	for _, s := range sessions {
		sessionOf[s.DecisionID] = s.ID
	}
	outcomes := map[string]int{}
	for _, d := range hs.decisions(t, since, store.DecisionFilter{Allow: ptr(true), HostName: haHost}) {
		if d.Path != policy.DecisionPath {
			continue
		}
		outcome := d.Labels[labelOutcome]
		outcomes[outcome]++
		switch {
		case outcome == "":
			t.Errorf("allow record %s (by %s) names no outcome", d.ID, d.Labels["cm"])
		case outcome == outcomeGranted && (sessionOf[d.ID] == "" || sessionOf[d.ID] != d.Labels[labelSession]):
			t.Errorf("allow record %s (by %s) was granted with session %q, but the store has session %q for it: a ticket without its outcome",
				d.ID, d.Labels["cm"], d.Labels[labelSession], sessionOf[d.ID])
		case outcome != outcomeGranted && sessionOf[d.ID] != "":
			t.Errorf("allow record %s (by %s) says %s, yet session %s was recorded for it", d.ID, d.Labels["cm"], outcome, sessionOf[d.ID])
		}
	}
	honoured := map[string]bool{}
	for _, m := range pairedRE.FindAllStringSubmatch(hs.c.LogOf(haRelay), -1) {
		honoured[m[1]] = true
	}
	for _, a := range results {
		if a.err == nil {
			honoured[a.decisionID] = true
		}
	}
	for id := range honoured {
		if d, err := hs.st.GetDecision(ctx, id); err != nil || !d.Allow || d.Subject != hs.alice.Email || d.Labels[labelOutcome] != outcomeGranted {
			t.Errorf("ticket of decision %s was honoured or granted, but its record is %+v, %v", id, d, err)
		}
	}
	t.Logf("allow records since the load began, by outcome: %v; %d tickets honoured or granted checked against their records", outcomes, len(honoured))
}

// Labels of a connect's allow record (the gateway's): its outcome, "granted" or the refusal
// code, and the session it granted.
const (
	labelOutcome   = "outcome"
	labelSession   = "session_id"
	outcomeGranted = "granted"
)
