package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/ticket"
)

func TestConfigDurationsOutsideWhatTheSystemAcceptsAreRefusedAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // one substring per expected problem; none: accepted
	}{
		{"the defaults", Config{}, nil},
		{"the longest ticket", Config{TicketTTL: ticket.MaxLifetime}, nil},
		{"a ticket longer than tickets live", Config{TicketTTL: ticket.MaxLifetime + time.Second}, []string{"TicketTTL 1m1s exceeds 1m0s"}},
		{"the longest session", Config{MaxSession: certs.MaxCertValidity}, nil},
		{"a session longer than an SSH certificate lives", Config{MaxSession: 48 * time.Hour}, []string{"MaxSession 48h0m0s exceeds 24h0m0s"}},
		{"a long-poll the ends give up on", Config{LongPoll: time.Minute}, []string{"LongPoll 1m0s exceeds 30s"}},
		{"a sub-second heartbeat", Config{HeartbeatInterval: 500 * time.Millisecond}, []string{"HeartbeatInterval 500ms is below 1s"}},
		{"a sub-second relay report", Config{RelayInterval: 500 * time.Millisecond, RelayStale: time.Second}, []string{"RelayInterval 500ms is below 1s"}},
		{"relays stale before they report", Config{RelayInterval: 5 * time.Second}, []string{"RelayStale 3s must exceed RelayInterval 5s"}},
		{"relays stale exactly when they report", Config{RelayInterval: 2 * time.Second, RelayStale: 2 * time.Second}, []string{"RelayStale 2s must exceed RelayInterval 2s"}},
		{"a negative duration", Config{HostAuthTTL: -time.Second}, []string{"HostAuthTTL -1s must not be negative"}},
		{"every problem at once", Config{TicketTTL: time.Hour, MaxSession: 25 * time.Hour, HeartbeatSkew: -1}, []string{"HeartbeatSkew", "TicketTTL", "MaxSession"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.durationProblems()
			if len(errs) != len(tt.want) {
				t.Fatalf("problems %v, want %d: %q", errs, len(tt.want), tt.want)
			}
			for i, want := range tt.want {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("problem %d = %q, want it to say %q", i, errs[i], want)
				}
			}
		})
	}
}

// Validate returns the duration problems with every other one, and New refuses to start.
func TestValidateRefusesATicketTTLAboveTheTicketLifetime(t *testing.T) {
	t.Parallel()
	cfg := Config{TicketTTL: 2 * time.Minute}
	err := cfg.Validate()
	for _, want := range []string{"Store is required", "TicketTTL 2m0s exceeds 1m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "TicketTTL") {
		t.Errorf("New accepted the configuration: %v", err)
	}
}
