package gateway

import (
	"fmt"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/ticket"
)

// Bounds of Config durations that other parts of the system impose; a Config beyond one is
// refused at start instead of failing every request that depends on it.
const (
	// MaxTicketTTL is the longest TicketTTL: a ticket living longer cannot be minted.
	MaxTicketTTL = ticket.MaxLifetime
	// MaxSessionCeiling is the longest MaxSession: an SSH user certificate cannot live longer.
	MaxSessionCeiling = certs.MaxCertValidity
	// MinReportInterval is the shortest HeartbeatInterval and RelayInterval: the wire carries
	// whole seconds, and a Host or relay ignores an interval of 0.
	MinReportInterval = time.Second
	// MaxLongPoll is the longest LongPoll: the Host agent and the relay give up on a long-poll
	// after 40 s, so a longer hold would time every poll out.
	MaxLongPoll = 30 * time.Second
)

// durationProblems returns every duration of c that is negative, or whose effective value
// (its default when zero) is outside what the rest of the system accepts.
func (c *Config) durationProblems() []error {
	var errs []error
	named := []struct {
		name string
		d    time.Duration
	}{
		{"TicketTTL", c.TicketTTL}, {"HostCertTTL", c.HostCertTTL}, {"HeartbeatInterval", c.HeartbeatInterval},
		{"RelayInterval", c.RelayInterval}, {"RelayStale", c.RelayStale}, {"ReevaluateInterval", c.ReevaluateInterval},
		{"LongPoll", c.LongPoll}, {"MaxSession", c.MaxSession}, {"HostAuthTTL", c.HostAuthTTL},
		{"MaxCredentialTTL", c.MaxCredentialTTL}, {"HeartbeatSkew", c.HeartbeatSkew},
	}
	for _, n := range named {
		if n.d < 0 {
			errs = append(errs, fmt.Errorf("gateway: %s %s must not be negative (0 is the default)", n.name, n.d))
		}
	}
	atMost := func(name string, d, limit time.Duration, why string) {
		if d > limit {
			errs = append(errs, fmt.Errorf("gateway: %s %s exceeds %s (%s)", name, d, limit, why))
		}
	}
	atLeast := func(name string, d, limit time.Duration, why string) {
		if d < limit {
			errs = append(errs, fmt.Errorf("gateway: %s %s is below %s (%s)", name, d, limit, why))
		}
	}
	atMost("TicketTTL", effective(c.TicketTTL, DefaultTicketTTL), MaxTicketTTL, "ticket.MaxLifetime: no ticket could be minted")
	atMost("MaxSession", effective(c.MaxSession, DefaultMaxSession), MaxSessionCeiling, "certs.MaxCertValidity: no SSH certificate could be signed")
	atMost("LongPoll", effective(c.LongPoll, DefaultLongPoll), MaxLongPoll, "Hosts and relays give up on a long-poll after 40s")
	heartbeat := effective(c.HeartbeatInterval, DefaultHeartbeatInterval)
	relayEvery := effective(c.RelayInterval, DefaultRelayInterval)
	atLeast("HeartbeatInterval", heartbeat, MinReportInterval, "Hosts are told whole seconds")
	atLeast("RelayInterval", relayEvery, MinReportInterval, "relays are told whole seconds")
	if stale := effective(c.RelayStale, DefaultRelayStale); stale <= relayEvery {
		errs = append(errs, fmt.Errorf("gateway: RelayStale %s must exceed RelayInterval %s (every relay would go stale between its reports)", stale, relayEvery))
	}
	return errs
}

// effective is d, or def when d is zero (as setDefaults does).
func effective(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
