package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// BenchmarkReevaluateLive measures one re-evaluation pass over live sessions each with its own
// decision record, on SQLite, as the periodic pass and a policy change run it: ns/op is the
// pass, ns/session a session's share of it.
func BenchmarkReevaluateLive(b *testing.B) {
	const sessions = 2000
	w := startWorld(b)
	alice := w.login(b, "alice@example.com", "123456")
	staging := w.liveSession(b, alice, "web-1")
	rec, err := w.store.GetDecision(context.Background(), staging.DecisionID)
	if err != nil {
		b.Fatal(err)
	}
	copies := make([]store.Session, sessions)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range copies {
		d := rec
		d.ID, d.LogSig, d.LogMAC, d.LogIndex = fmt.Sprintf("dec-copy-%05d", i), nil, nil, nil
		copies[i] = store.Session{
			ID: fmt.Sprintf("s-staging-%05d", i), DecisionID: d.ID, Subject: "alice@example.com", HostID: w.hosts["web-1"].id,
			HostName: "web-1", RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: w.now.Add(time.Second + time.Duration(i)*time.Millisecond),
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := w.store.InsertDecision(context.Background(), d); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	createSessions(b, w.store, copies)
	b.ResetTimer()
	for b.Loop() {
		res, err := w.gateway.ReevaluateLive(context.Background())
		if err != nil || res.Checked != sessions+1 || len(res.Ended) != 0 {
			b.Fatalf("re-evaluation checked %d, ended %d: %v", res.Checked, len(res.Ended), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(sessions+1)), "ns/session")
}

// BenchmarkRevokeLive measures a pass that ends every live session, on SQLite, as a policy
// change that denies them all runs it: ns/session is a session's share of the pass (its
// re-decision, its record committed, its end and its orders written).
func BenchmarkRevokeLive(b *testing.B) {
	const sessions = 2000
	src, w, alice := startSwappableWorld(b)
	prod := w.liveSession(b, alice, "db-1")
	src.Store(stagingOnlyForOps(b))
	if _, err := w.gateway.ReevaluateLive(context.Background()); err != nil {
		b.Fatal(err)
	}
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		createSessions(b, w.store, w.prodSessions(fmt.Sprintf("s-%d", round), sessions, prod.DecisionID))
		b.StartTimer()
		res, err := w.gateway.ReevaluateLive(context.Background())
		if err != nil || res.Checked != sessions || len(res.Ended) != sessions {
			b.Fatalf("re-evaluation checked %d, ended %d: %v", res.Checked, len(res.Ended), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sessions), "ns/session")
}
