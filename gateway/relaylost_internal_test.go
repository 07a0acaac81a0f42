package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// A relay is lost when neither the store nor this CM has heard from it within the stale
// window: a report this CM received counts even while the store has not recorded it yet.
func TestARelayIsLostOnlyWhenNeitherTheStoreNorThisCMHeardFromIt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	const stale = 3 * time.Second
	tests := []struct {
		name     string
		lastSeen time.Duration // before now, in the store
		heard    time.Duration // before now, at this CM; 0: never
		wantLost bool
	}{
		{"fresh in the store", time.Second, 0, false},
		{"stale in the store, never heard here", 10 * time.Second, 0, true},
		{"stale in the store, its report just reached this CM", 10 * time.Second, time.Second, false},
		{"stale in the store and here", 10 * time.Second, 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := newRelayRegistry()
			rr.registered("cs-1")
			if tt.heard > 0 {
				rr.heardFrom("cs-1", now.Add(-tt.heard))
			}
			got := rr.lost([]store.Relay{{ID: "cs-1", LastSeen: now.Add(-tt.lastSeen)}}, now, stale)
			if lost := slices.Contains(got, "cs-1"); lost != tt.wantLost {
				t.Errorf("lost = %v, want %v", got, tt.wantLost)
			}
		})
	}
}
