package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

// hostCount is the fleet size the presence tests model.
const hostCount = 100_000

func TestHeartbeatsOfAHundredThousandHostsAreOneBatchAndBoundedInMemory(t *testing.T) {
	p := newPresence()
	ids := make([]string, hostCount)
	for i := range ids {
		ids[i] = fmt.Sprintf("h_%06d", i)
	}
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for round := range 3 { // three heartbeats from every Host within one flush interval
		for _, id := range ids {
			p.seen(id, t0.Add(time.Duration(round)*time.Second))
		}
	}
	batch := p.drainDirty()
	if len(batch) != hostCount {
		t.Fatalf("one flush carries %d entries, want one per Host (%d)", len(batch), hostCount)
	}
	if got := batch[ids[42]]; !got.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("the batch keeps %v for a Host, want its latest heartbeat", got)
	}
	if again := p.drainDirty(); len(again) != 0 {
		t.Errorf("a second flush without heartbeats carries %d entries", len(again))
	}
	if len(p.hosts) != hostCount {
		t.Errorf("presence holds %d Hosts, want %d: memory grows with Hosts, not heartbeats", len(p.hosts), hostCount)
	}
}

func TestAdmissionTurnsAwayWhatItCannotServeInTime(t *testing.T) {
	a := newAdmission(1)
	release, ok := a.enter(context.Background())
	if !ok {
		t.Fatal("the first request found no slot")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := a.enter(ctx); ok {
		t.Fatal("a second request got the only slot while it was taken")
	}
	release()
	if _, ok := a.enter(context.Background()); !ok {
		t.Fatal("a released slot was not reusable")
	}
}

// BenchmarkConnectionRequestReachesAWaitingLongPoll measures, in memory, the time from the
// CM queueing a Host's connection request to the Host's long-poll returning it (target: far
// under 100 ms).
func BenchmarkConnectionRequestReachesAWaitingLongPoll(b *testing.B) {
	p := newPresence()
	got := make(chan time.Time)
	var total time.Duration
	for b.Loop() {
		go func() {
			p.wait(context.Background(), "h_1", time.Minute)
			got <- time.Now()
		}()
		for !p.isPolling("h_1") {
			time.Sleep(time.Microsecond)
		}
		sent := time.Now()
		p.deliver("h_1", api.HostRequest{SessionID: "ses_1"})
		total += (<-got).Sub(sent)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/delivery")
}

// isPolling reports whether a long-poll of the Host is waiting.
func (p *presence) isPolling(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.hosts[id]
	return ok && st.polling > 0
}
