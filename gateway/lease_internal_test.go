package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

func TestTheLeaseHolderNoticesRelaysThatReportedToAnotherReplicaGoSilent(t *testing.T) {
	t.Parallel()
	const stale = 3 * time.Second
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	relays := func(lastSeen map[string]time.Duration) []store.Relay {
		var out []store.Relay
		for id, ago := range lastSeen {
			out = append(out, store.Relay{ID: id, LastSeen: t0.Add(-ago)})
		}
		return out
	}
	var w relayWatch
	steps := []struct {
		name     string
		observe  bool // a replica without the lease only observes
		lastSeen map[string]time.Duration
		want     []string
	}{
		{"both report (to any replica), seen while not holding", true, map[string]time.Duration{"cs-1": 0, "cs-2": time.Second}, nil},
		{"never seen alive: not this sweep's to end", false, map[string]time.Duration{"cs-1": 0, "cs-2": time.Second, "cs-old": time.Hour}, nil},
		{"cs-2 goes silent after the lease changed hands", false, map[string]time.Duration{"cs-1": time.Second, "cs-2": stale + time.Second}, []string{"cs-2"}},
		{"reported once only", false, map[string]time.Duration{"cs-1": time.Second, "cs-2": stale + 2*time.Second}, nil},
		{"an observer ends nothing", true, map[string]time.Duration{"cs-1": stale + time.Second}, nil},
		{"the holder then does", false, map[string]time.Duration{"cs-1": stale + time.Second}, []string{"cs-1"}},
	}
	for _, s := range steps {
		var got []string
		if s.observe {
			w.observe(relays(s.lastSeen), t0, stale)
		} else {
			got = w.lost(relays(s.lastSeen), t0, stale)
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("%s: lost = %v, want %v", s.name, got, s.want)
		}
	}
}
