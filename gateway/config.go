package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/ticket"
	"github.com/portcullis/portcullis/translog"
)

// Defaults for Config fields left zero.
const (
	DefaultTicketTTL         = 30 * time.Second
	DefaultHostCertTTL       = 30 * 24 * time.Hour
	DefaultEnrollmentTTL     = 24 * time.Hour
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultRelayInterval     = 1 * time.Second
	DefaultRelayStale        = 3 * time.Second
	DefaultReevaluate        = time.Minute
	DefaultLongPoll          = 25 * time.Second
	DefaultMaxSession        = 8 * time.Hour
	DefaultHostAuthTTL       = 5 * time.Second
	DefaultMaxCredentialTTL  = 12 * time.Hour
	DefaultHeartbeatSkew     = time.Minute
	// maxBodyBytes bounds every request body the CM reads but a relay's registration.
	maxBodyBytes = 64 << 10
	// maxRelayReportBytes bounds a relay's registration, which lists the sessions it holds
	// (about 40 bytes each): 4 MiB is 100,000 sessions, five times a relay's default bounds
	// (10,000 spliced and 10,000 waiting). A relay refused for its size stops reporting, and
	// its sessions are ended (fail closed).
	maxRelayReportBytes = 4 << 20
	// runTick is how often Run records what waited for the store, notices a policy reload and
	// (holding the lease) discards expired mail.
	runTick = time.Second
)

// Authenticator verifies a Guest's OIDC ID token.
type Authenticator interface {
	Verify(ctx context.Context, rawIDToken string) (identity.Claims, error)
}

// Config configures a Server. Store, Policy, Auth, TicketSigner, TicketKeys, SSHUserCA, CA and LogSigner
// are required; every other field has a documented default.
type Config struct {
	Store *store.DB
	// Policy decides every request: a fixed *policy.Engine or a reloading *policy.Manager.
	Policy       policy.Source
	Auth         Authenticator
	AuthConfig   api.AuthConfig
	TicketSigner *ticket.Signer
	TicketKeys   *ticket.KeySet
	SSHUserCA    ssh.Signer
	// CA issues Host client certificates; its certificate is also sent to enrolling Hosts.
	CA *certs.CA
	// LogSigner signs every decision record and the decision log's checkpoints (translog).
	LogSigner *translog.Signer
	// TicketTTL is how long a ticket may wait to be redeemed; default DefaultTicketTTL, at most
	// MaxTicketTTL.
	TicketTTL time.Duration
	// HostCertTTL is the lifetime of Host client certificates; default DefaultHostCertTTL.
	HostCertTTL time.Duration
	// HeartbeatInterval is the interval asked of Hosts; default DefaultHeartbeatInterval, at
	// least MinReportInterval.
	HeartbeatInterval time.Duration
	// RelayInterval is the report interval asked of relays; default DefaultRelayInterval, at
	// least MinReportInterval.
	RelayInterval time.Duration
	// RelayStale is how long after its last report a relay is no longer assigned sessions, and
	// its live sessions are recorded as ended; default DefaultRelayStale, more than RelayInterval.
	RelayStale time.Duration
	// Revocation is what happens to a live session the policy now denies: RevokeEnd (default)
	// or RevokeWarn.
	Revocation string
	// ReevaluateInterval is how often every live session is re-decided even without a policy
	// change (time windows close); default DefaultReevaluate.
	ReevaluateInterval time.Duration
	// LongPoll bounds a Host's long-poll; default DefaultLongPoll, at most MaxLongPoll.
	LongPoll time.Duration
	// MaxSession caps a session when the policy names no maximum or a longer one; default
	// DefaultMaxSession, at most MaxSessionCeiling.
	MaxSession time.Duration
	// PrivateRelayTenants are tenants whose sessions use only their own private relays, never
	// a vendor relay, whatever the policy says; default none.
	PrivateRelayTenants []string
	// HostAuthTTL is how long an authenticated Host's enabled state is trusted for its
	// heartbeats and long-polls without reading the store; default DefaultHostAuthTTL. A Host
	// disabled in the store by another replica is refused within it (this replica forgets it
	// at once); connects always read the store. A certificate whose serial is not the trusted
	// one is checked against the store before it is refused, so a renewal at another replica
	// never locks the Host out.
	HostAuthTTL time.Duration
	// MaxCredentialTTL caps a Guest client certificate's lifetime, which never exceeds its ID
	// token's either; default DefaultMaxCredentialTTL.
	MaxCredentialTTL time.Duration
	// HeartbeatSkew is how far a signed heartbeat's time may be from the CM's clock; default
	// DefaultHeartbeatSkew.
	HeartbeatSkew time.Duration
	// Instance names this CM replica: it labels decision records and holds the singleton
	// lease; replicas sharing a database need distinct names. Default: the host name and a
	// random suffix.
	Instance string
	// DecisionLogShipping ships every committed decision record to an OPA decision-log
	// collector when its URL is set (gateway/logship), from the replica holding the singleton
	// lease; the CM sets its Outbox, Leader and Logger. Default: no shipping.
	DecisionLogShipping logship.Config
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the CM's logs; default discards.
	Logger *slog.Logger
}

// Validate reports every problem at once: a missing required field, and every problem
// CheckSettings reports.
func (c *Config) Validate() error {
	var errs []error
	need := func(ok bool, name string) {
		if !ok {
			errs = append(errs, fmt.Errorf("gateway: %s is required", name))
		}
	}
	need(c.Store != nil, "Store")
	need(c.Policy != nil, "Policy")
	need(c.Auth != nil, "Auth")
	need(c.TicketSigner != nil, "TicketSigner")
	need(c.TicketKeys != nil, "TicketKeys")
	need(c.SSHUserCA != nil, "SSHUserCA")
	need(c.CA != nil, "CA")
	need(c.LogSigner != nil, "LogSigner")
	return errors.Join(append(errs, unjoin(c.CheckSettings())...)...)
}

// CheckSettings reports every problem of the settings at once, each a *SettingError: an unknown
// Revocation, a negative duration, a duration beyond what tickets, certificates, Hosts or
// relays accept, or decision-log shipping the shipper would refuse. It needs none of the
// required fields, so a caller can check its settings before it creates a store.
func (c *Config) CheckSettings() error {
	var errs []error
	if c.Revocation != "" && c.Revocation != RevokeEnd && c.Revocation != RevokeWarn {
		errs = append(errs, &SettingError{Field: "Revocation", Value: fmt.Sprintf("%q", c.Revocation),
			Problem: fmt.Sprintf("must be %q or %q", RevokeEnd, RevokeWarn)})
	}
	errs = append(errs, c.durationProblems()...)
	if c.DecisionLogShipping.URL != "" {
		errs = append(errs, shippingProblems(c.DecisionLogShipping.Validate())...)
	}
	return errors.Join(errs...)
}

// SettingError is a problem with one setting of a Config: Field names it as Config does
// ("DecisionLogShipping.Batch" for a field of a nested configuration), so that a program can
// name it as its user knows it (a flag, say).
type SettingError struct {
	// Field is the Config field.
	Field string
	// Value is the field's value as shown in the message.
	Value string
	// Problem says what is wrong with it, e.g. "must not be negative".
	Problem string
}

func (e *SettingError) Error() string { return "gateway: " + e.Field + " " + e.Value + " " + e.Problem }

// shippingProblems turns the decision-log shipping's setting problems into the gateway's.
func shippingProblems(err error) []error {
	var errs []error
	for _, e := range unjoin(err) {
		if se, ok := errors.AsType[*logship.SettingError](e); ok {
			e = &SettingError{Field: "DecisionLogShipping." + se.Field, Value: se.Value, Problem: se.Problem}
		}
		errs = append(errs, e)
	}
	return errs
}

// unjoin returns the errors err joins, or err itself.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (c *Config) setDefaults() {
	setDefault(&c.TicketTTL, DefaultTicketTTL)
	setDefault(&c.HostCertTTL, DefaultHostCertTTL)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.RelayInterval, DefaultRelayInterval)
	setDefault(&c.RelayStale, DefaultRelayStale)
	setDefault(&c.ReevaluateInterval, DefaultReevaluate)
	if c.Revocation == "" {
		c.Revocation = RevokeEnd
	}
	setDefault(&c.LongPoll, DefaultLongPoll)
	setDefault(&c.MaxSession, DefaultMaxSession)
	setDefault(&c.HostAuthTTL, DefaultHostAuthTTL)
	setDefault(&c.MaxCredentialTTL, DefaultMaxCredentialTTL)
	setDefault(&c.HeartbeatSkew, DefaultHeartbeatSkew)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Instance == "" {
		c.Instance = defaultInstance()
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

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
			errs = append(errs, &SettingError{Field: n.name, Value: n.d.String(), Problem: "must not be negative (0 is the default)"})
		}
	}
	atMost := func(name string, d, limit time.Duration, why string) {
		if d > limit {
			errs = append(errs, &SettingError{Field: name, Value: d.String(), Problem: fmt.Sprintf("exceeds %s (%s)", limit, why)})
		}
	}
	atLeast := func(name string, d, limit time.Duration, why string) {
		if d < limit {
			errs = append(errs, &SettingError{Field: name, Value: d.String(), Problem: fmt.Sprintf("is below %s (%s)", limit, why)})
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
		errs = append(errs, &SettingError{Field: "RelayStale", Value: stale.String(),
			Problem: fmt.Sprintf("must exceed RelayInterval %s (every relay would go stale between its reports)", relayEvery)})
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
