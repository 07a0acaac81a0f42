package gateway

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/store"
)

func TestTheGuestIsShownOnlyRelaysItMayKnowOf(t *testing.T) {
	t.Parallel()
	vendor := store.Relay{ID: "cs-eu-1", Owner: "vendor"}
	full := store.Relay{ID: "cs-us-1", Owner: "vendor", MaxSessions: 1, Sessions: 1}
	acme := store.Relay{ID: "cs-acme-1", Owner: "acme", Private: true}
	globex := store.Relay{ID: "cs-globex-1", Owner: "globex", Private: true}
	tests := []struct {
		name            string
		cands           []store.Relay
		ask             relayAsk
		found           bool
		reason, shown   []string // substrings each must hold
		notShown        []string // substrings the shown reason must not hold
		wantChosenRelay string
	}{
		{
			name: "acme's session beside globex's private relay", cands: []store.Relay{globex, vendor, full},
			ask: relayAsk{tenant: "acme"}, found: true, wantChosenRelay: "cs-eu-1",
			reason:   []string{"cs-eu-1: lowest score", "of 1 eligible", "cs-globex-1 (another tenant's private relay)", "cs-us-1 (full)"},
			shown:    []string{"cs-eu-1: lowest score", "of 1 eligible", "skipped cs-us-1 (full)"},
			notShown: []string{"globex", "another tenant"},
		},
		{
			name: "acme's own private relay is the Guest's to know", cands: []store.Relay{globex, acme, vendor},
			ask: relayAsk{tenant: "acme", privateOnly: true}, found: true, wantChosenRelay: "cs-acme-1",
			reason:   []string{"cs-globex-1 (another tenant's private relay)", "cs-eu-1 (not the tenant's private relay)"},
			shown:    []string{"cs-acme-1: lowest score", "skipped cs-eu-1 (not the tenant's private relay)"},
			notShown: []string{"globex"},
		},
		{
			name: "no relay fits: the count is of relays the Guest may know of", cands: []store.Relay{globex, full},
			ask:      relayAsk{tenant: "acme"},
			reason:   []string{"no relay fits among 2 candidates", "cs-globex-1"},
			shown:    []string{"no relay fits among 1 candidates; skipped cs-us-1 (full)"},
			notShown: []string{"globex", "2 candidates"},
		},
		{
			name: "globex's own session names its relay", cands: []store.Relay{globex, vendor},
			ask: relayAsk{tenant: "globex", privateOnly: true}, found: true, wantChosenRelay: "cs-globex-1",
			shown: []string{"cs-globex-1: lowest score", "cs-eu-1 (not the tenant's private relay)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chooseRelay(tt.cands, tt.ask)
			if c.found != tt.found || c.relay.ID != tt.wantChosenRelay {
				t.Fatalf("chose %q (found %t), want %q", c.relay.ID, c.found, tt.wantChosenRelay)
			}
			for _, want := range tt.reason {
				if !strings.Contains(c.reason, want) {
					t.Errorf("reason %q lacks %q", c.reason, want)
				}
			}
			for _, want := range tt.shown {
				if !strings.Contains(c.shown, want) {
					t.Errorf("shown %q lacks %q", c.shown, want)
				}
			}
			for _, never := range tt.notShown {
				if strings.Contains(c.shown, never) {
					t.Errorf("shown %q names %q", c.shown, never)
				}
			}
		})
	}
}
