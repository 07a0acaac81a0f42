// Package api holds the JSON wire types of the Connection Manager's HTTP API, shared by the CM
// (gateway) and its clients (endpoint, relay registration, the CLI). It owns no behaviour: only
// types and paths (the error codes are package access's) (and the byte layout a signed heartbeat's signature covers), so
// that both sides cannot drift apart.
package api

import (
	"strconv"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Paths of the CM's HTTP API.
const (
	PathAuthConfig       = "/v1/auth/config"
	PathCredential       = "/v1/auth/credential"
	PathWhoAmI           = "/v1/auth/whoami"
	PathTicketKeys       = "/v1/ticket-keys"
	PathEnrollmentTokens = "/v1/enrollment-tokens"
	PathEnroll           = "/v1/hosts/enroll"
	PathHeartbeat        = "/v1/hosts/heartbeat"
	PathHostRequests     = "/v1/hosts/requests"
	PathHostRenew        = "/v1/hosts/renew"
	PathSignedHeartbeat  = "/v1/hosts/signed-heartbeat"
	PathRelayRegister    = "/v1/relays/register"
	PathRelaySessionEnd  = "/v1/relays/session-end"
	PathRelayPaired      = "/v1/relays/paired"
	PathRelayEnroll      = "/v1/relays/enroll"
	PathRelayProbes      = "/v1/relays/probes"
	PathConnect          = "/v1/connect"
	PathDecisions        = "/v1/decisions"
	PathPolicyStatus     = "/v1/policy/status"
	PathMetrics          = "/metrics"
	PathHosts            = "/v1/hosts"
	PathRelays           = "/v1/relays"
	// PathHealthz answers 200 while the CM process serves (GET, no authentication): a load
	// balancer's liveness check.
	PathHealthz = "/healthz"
	// PathReadyz answers 200 when the CM can decide (its store answers within a second and a
	// policy is loaded), else 503 with the reason (GET, no authentication, not recorded): a
	// load balancer's readiness check.
	PathReadyz = "/readyz"
)

// Health is the body of GET /healthz and GET /readyz.
type Health struct {
	// Status is "ok", or "unavailable" with a 503.
	Status string `json:"status"`
	// Reason says briefly what is not ready ("store unavailable", "no policy loaded").
	Reason string `json:"reason,omitempty"`
}

// Health statuses.
const (
	// HealthOK is the status of a live or ready CM.
	HealthOK = "ok"
	// HealthUnavailable is the status of a CM that is not ready.
	HealthUnavailable = "unavailable"
)

// Error is the body of every non-2xx answer.
type Error struct {
	// Code is the refusal's stable code ("denied", "unauthenticated", ...); its HTTP status is
	// Code.HTTPStatus().
	Code access.Code `json:"error"`
	// Message is the human-readable explanation.
	Message string `json:"message,omitempty"`
	// Reasons lists the policy's reasons for a denial.
	Reasons []string `json:"reasons,omitempty"`
	// DecisionID names the decision record of a denial.
	DecisionID string `json:"decision_id,omitempty"`
	// Reason is the finer code of an authentication refusal, e.g. "expired",
	// "wrong_audience", "credential_required".
	Reason access.Code `json:"reason,omitempty"`
	// RetryAfterSeconds asks a busy client to wait before trying again (also the Retry-After header).
	RetryAfterSeconds int64 `json:"retry_after_seconds,omitempty"`
}

// AuthConfig tells a Guest how to sign in (GET /v1/auth/config).
type AuthConfig struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// ClientSecret is set only for providers that give native clients a secret that is not
	// confidential (Google's "desktop app" clients); it is public by design.
	ClientSecret string   `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes"`
}

// CredentialRequest exchanges a fresh ID token (the bearer token of POST /v1/auth/credential)
// for a short-lived client certificate bound to a key the Guest keeps.
type CredentialRequest struct {
	// PublicKey is the Guest's Ed25519 key in authorized_keys format.
	PublicKey string `json:"public_key"`
}

// CredentialResponse carries the Guest's client certificate.
type CredentialResponse struct {
	// Certificate is the client certificate (PEM) for PublicKey, common name "user:" + Subject.
	Certificate string `json:"certificate"`
	// Subject is the user the certificate names.
	Subject string `json:"subject"`
	// ExpiresAt is the certificate's NotAfter: never after the ID token's expiry nor the
	// CM's maximum credential lifetime.
	ExpiresAt time.Time `json:"expires_at"`
}

// WhoAmI is what the CM makes of the caller's ID token and credential (GET /v1/auth/whoami).
type WhoAmI struct {
	Subject string   `json:"subject"`
	Name    string   `json:"name,omitempty"`
	Email   string   `json:"email,omitempty"`
	Issuer  string   `json:"issuer"`
	Groups  []string `json:"groups"`
	AMR     []string `json:"amr,omitempty"`
	ACR     string   `json:"acr,omitempty"`
	// TokenExpiresAt is the ID token's expiry.
	TokenExpiresAt time.Time `json:"token_expires_at"`
	// CredentialExpiresAt is the client certificate's expiry.
	CredentialExpiresAt time.Time `json:"credential_expires_at"`
}

// HostRenewResponse carries a Host's renewed client certificate (POST /v1/hosts/renew).
type HostRenewResponse struct {
	// Certificate is the new client certificate (PEM) for the Host's key.
	Certificate string `json:"certificate"`
	// ExpiresAt is the new certificate's NotAfter.
	ExpiresAt time.Time `json:"expires_at"`
}

// SignedHeartbeat is a heartbeat a Host may send over plain HTTP: it carries no secret, and
// its signature by the Host's Ed25519 key over SigningBytes makes it unforgeable, while Time
// and Counter (strictly increasing per Host) make it unreplayable.
type SignedHeartbeat struct {
	HostID string `json:"host_id"`
	// Time is when the Host sent it; the CM refuses one too far from its own clock.
	Time time.Time `json:"time"`
	// Counter must exceed the counter of every heartbeat the CM accepted from this Host.
	Counter int64 `json:"counter"`
	// Signature is the Ed25519 signature over SigningBytes.
	Signature []byte `json:"signature"`
}

// signedHeartbeatContext separates heartbeat signatures from every other use of a Host key.
const signedHeartbeatContext = "portcullis signed heartbeat v1"

// SigningBytes is what the Host signs: a context string, the host id, the time in Unix
// nanoseconds and the counter, separated by newlines.
func (h SignedHeartbeat) SigningBytes() []byte {
	return []byte(signedHeartbeatContext + "\n" + h.HostID + "\n" +
		strconv.FormatInt(h.Time.UnixNano(), 10) + "\n" + strconv.FormatInt(h.Counter, 10))
}

// EnrollmentTokenRequest asks for a one-time enrollment token.
type EnrollmentTokenRequest struct {
	Tags   map[string]string `json:"tags"`
	Tenant string            `json:"tenant"`
	// Kind is "host" (the default) or "relay": a tenant's private Connection Server enrols
	// with a relay token and serves only that tenant.
	Kind string `json:"kind,omitempty"`
	// TTLSeconds is how long the token stays valid; 0 means the CM's default.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// EnrollmentTokenResponse carries the secret token, shown once.
type EnrollmentTokenResponse struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EnrollRequest is a Host's one-time enrollment.
type EnrollRequest struct {
	Token string `json:"token"`
	Name  string `json:"name"`
	OS    string `json:"os"`
	// PublicKey is the Host's Ed25519 key in authorized_keys format; it is both its SSH host
	// key and the key of its mTLS client certificate.
	PublicKey string `json:"public_key"`
}

// EnrollResponse gives the Host its identity.
type EnrollResponse struct {
	HostID string `json:"host_id"`
	// Certificate is the Host's mTLS client certificate (PEM).
	Certificate string `json:"certificate"`
	// CA is the CM's CA certificate (PEM).
	CA string `json:"ca"`
	// SSHUserCA is the CM's SSH user CA in authorized_keys format.
	SSHUserCA string            `json:"ssh_user_ca"`
	Tags      map[string]string `json:"tags"`
	Tenant    string            `json:"tenant"`
}

// Heartbeat is a Host's sign of life, with what it measured.
type Heartbeat struct {
	// RelayLatencies are the Host's round-trip times to relays, by relay id, in milliseconds.
	RelayLatencies map[string]int64 `json:"relay_latencies_ms,omitempty"`
}

// HeartbeatResponse acknowledges a heartbeat.
type HeartbeatResponse struct {
	// IntervalSeconds is when the CM wants the next heartbeat.
	IntervalSeconds int64 `json:"interval_seconds"`
	// Relays are the relays the Host may be sent to: it measures its latency to them.
	Relays []RelayAddr `json:"relays,omitempty"`
}

// HostRequest is a connection request delivered to a Host on its long-poll; with Kill set it
// orders the Host to end the live session SessionID instead, for Reason.
type HostRequest struct {
	SessionID   string             `json:"session_id"`
	Kill        bool               `json:"kill,omitempty"`
	Reason      string             `json:"reason,omitempty"`
	Relay       RelayAddr          `json:"relay"`
	Ticket      string             `json:"ticket"`
	Subject     string             `json:"subject"`
	Obligations access.Obligations `json:"obligations"`
}

// HostRequests is the answer of the long-poll.
type HostRequests struct {
	Requests []HostRequest `json:"requests"`
}

// RelayAddr names a Connection Server and where to dial it.
type RelayAddr struct {
	ID string `json:"id"`
	// Addr is the TCP+TLS address (host:port, port 1970 by default).
	Addr string `json:"addr"`
	// HTTPAddr is the HTTP fallback's base URL (http://host:80 by default); "" if none.
	HTTPAddr string `json:"http_addr,omitempty"`
}

// RelayRegistration is a Connection Server's registration and load report. Like every relay
// call, it is bound to the relay its client certificate names ("relay:<id>"): an ID naming
// another relay is refused (403 wrong_relay), and an empty one means the certificate's.
type RelayRegistration struct {
	ID          string `json:"id"`
	Addr        string `json:"addr"`
	HTTPAddr    string `json:"http_addr,omitempty"`
	Region      string `json:"region"`
	Owner       string `json:"owner"`
	Private     bool   `json:"private"`
	Sessions    int    `json:"sessions"`
	BytesPerSec int64  `json:"bytes_per_sec"`
	// MaxSessions is the CS's capacity; 0 means unknown.
	MaxSessions int `json:"max_sessions,omitempty"`
	// Draining is set by a CS that is shutting down: it takes no new sessions.
	Draining bool `json:"draining,omitempty"`
	// LiveSessions lists the ids of the sessions the CS holds (spliced or waiting for a half),
	// so that the CM can end the records of sessions it holds no longer; nil means not reported.
	LiveSessions []string `json:"live_sessions"`
}

// RelayEnrollRequest is a tenant's private Connection Server's one-time enrollment.
type RelayEnrollRequest struct {
	Token string `json:"token"`
	// ID is the relay's id (its ticket audience).
	ID string `json:"id"`
	// PublicKey is the relay's Ed25519 key in authorized_keys format, for its client certificate.
	PublicKey string `json:"public_key"`
}

// RelayEnrollResponse gives an enrolled relay its identity.
type RelayEnrollResponse struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Certificate is the relay's mTLS client certificate (PEM), CN "relay:<id>".
	Certificate string `json:"certificate"`
	// CA is the CM's CA certificate (PEM).
	CA string `json:"ca"`
}

// RelayPaired is a Connection Server's report that a session's halves were paired.
type RelayPaired struct {
	// RelayID is the reporting relay, as its certificate names it ("" means the certificate's).
	RelayID   string `json:"relay_id"`
	SessionID string `json:"session_id"`
	// GuestTransport and HostTransport are "tcp", "http" or "tcp-plain" (TCP whose TLS the CS
	// dropped once paired: the fast encryption level).
	GuestTransport string `json:"guest_transport"`
	HostTransport  string `json:"host_transport"`
}

// RelayRegistrationResponse tells a CS when to report again.
type RelayRegistrationResponse struct {
	IntervalSeconds int64 `json:"interval_seconds"`
}

// SessionEnd is a Connection Server's report of a finished session.
type SessionEnd struct {
	// RelayID is the reporting relay, as its certificate names it ("" means the certificate's).
	RelayID   string    `json:"relay_id"`
	SessionID string    `json:"session_id"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	BytesUp   int64     `json:"bytes_up"`
	BytesDown int64     `json:"bytes_down"`
	Reason    string    `json:"reason"`
}

// ConnectRequest is a Guest's request to reach a Host.
type ConnectRequest struct {
	Host string `json:"host"`
	// Channels are the channel kinds wanted (shell, exec, sftp, forward); at least one, or the
	// request is refused (400 bad_request) and no decision is recorded.
	Channels   []string `json:"channels"`
	Encryption string   `json:"encryption,omitempty"`
	// PublicKey is the Guest's fresh per-connection key in authorized_keys format.
	PublicKey string `json:"public_key"`
	// RelayLatencies are the Guest's round-trip times to relays, by relay id, in milliseconds.
	RelayLatencies map[string]int64 `json:"relay_latencies_ms,omitempty"`
	// ExcludeRelays names relays through which pairing just failed (failover).
	ExcludeRelays []string `json:"exclude_relays,omitempty"`
}

// ConnectResponse carries the Guest's half of an allowed connection.
type ConnectResponse struct {
	SessionID  string    `json:"session_id"`
	DecisionID string    `json:"decision_id"`
	Relay      RelayAddr `json:"relay"`
	Ticket     string    `json:"ticket"`
	// Certificate is the SSH user certificate for PublicKey, in authorized_keys format.
	Certificate string `json:"certificate"`
	// HostKey is the Host's pinned SSH host key, in authorized_keys format.
	HostKey     string             `json:"host_key"`
	Principal   string             `json:"principal"`
	Obligations access.Obligations `json:"obligations"`
	ExpiresAt   time.Time          `json:"expires_at"`
	// RelayReason says why the CM chose this relay, naming only relays the Guest may know of
	// (vendor relays and the Host tenant's own); the decision record keeps the whole reason.
	RelayReason string `json:"relay_reason,omitempty"`
}

// Decision is a decision record as the API shows it and the CM ships it to a decision-log
// collector: an OPA decision-log event (decision_id, timestamp, path, input, result, bundles,
// erased, masked, requested_by, req_id, metrics, labels) with Portcullis' own fields beside.
type Decision struct {
	ID       string    `json:"decision_id"`
	Time     time.Time `json:"timestamp"`
	Path     string    `json:"path"`
	Subject  string    `json:"subject"`
	HostID   string    `json:"host_id"`
	HostName string    `json:"host_name"`
	Allow    bool      `json:"allow"`
	Reasons  []string  `json:"reasons"`
	Input    any       `json:"input"`
	Result   any       `json:"result"`
	Revision string    `json:"revision"`
	// Bundles names the policy bundles that decided and their revisions.
	Bundles map[string]BundleRevision `json:"bundles,omitempty"`
	// Erased lists the JSON pointers the decision-log mask removed from input or result.
	Erased []string `json:"erased,omitempty"`
	// Masked lists the JSON pointers the decision-log mask replaced in input or result.
	Masked []string `json:"masked,omitempty"`
	// RequestedBy is the address of the client whose request started the decision.
	RequestedBy string `json:"requested_by,omitempty"`
	// ReqID numbers that request on the replica of label "cm".
	ReqID uint64 `json:"req_id,omitempty"`
	// Metrics holds OPA's decision-log metrics, e.g. "timer_rego_query_eval_ns".
	Metrics map[string]int64  `json:"metrics"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// BundleRevision is one entry of Decision.Bundles.
type BundleRevision struct {
	// Revision is the bundle's revision.
	Revision string `json:"revision"`
}

// MetricEvalNS is the Decision metric of the policy evaluation time, as OPA names it.
const MetricEvalNS = "timer_rego_query_eval_ns"

// DecisionPage is one page of GET /v1/decisions, newest first.
type DecisionPage struct {
	Decisions []Decision `json:"decisions"`
	// Next is the cursor of the next page; empty after the last.
	Next string `json:"next,omitempty"`
}

// Query parameters of GET /v1/decisions; every one is optional and they combine with AND.
const (
	// QuerySubject keeps decisions about this user id.
	QuerySubject = "subject"
	// QueryHost keeps decisions about the host of this name.
	QueryHost = "host"
	// QueryAllow is "true" for allowed decisions, "false" for denied ones.
	QueryAllow = "allow"
	// QuerySince keeps decisions at or after this RFC 3339 time.
	QuerySince = "since"
	// QueryUntil keeps decisions strictly before this RFC 3339 time.
	QueryUntil = "until"
	// QueryReason keeps decisions with a reason containing this text (case-insensitive).
	QueryReason = "reason"
	// QueryLimit is the page size of the decision log (default 100, at most 1000) and of every
	// listing answered in pages (sessions, Hosts, locks, the Hosts a user may reach).
	QueryLimit = "limit"
	// QueryCursor is DecisionPage.Next of the previous page of the decision log, or the
	// HeaderNextCursor of the previous page of a listing.
	QueryCursor = "cursor"
)

// HostInfo describes an enrolled Host (GET /v1/hosts, administrators).
type HostInfo struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Tenant   string            `json:"tenant"`
	OS       string            `json:"os"`
	Tags     map[string]string `json:"tags"`
	Disabled bool              `json:"disabled"`
	Online   bool              `json:"online"`
	LastSeen time.Time         `json:"last_seen"`
}

// RelayInfo describes a registered Connection Server (GET /v1/relays, administrators).
type RelayInfo struct {
	RelayRegistration
	Healthy  bool      `json:"healthy"`
	LastSeen time.Time `json:"last_seen"`
}

// PathReachableHosts lists the Hosts the caller may reach (GET, any signed-in user).
const PathReachableHosts = "/v1/me/hosts"

// ReachableHosts is the answer of GET /v1/me/hosts: the caller's SSH principal and every
// enabled Host the policy would let the caller connect to right now.
type ReachableHosts struct {
	// Principal is the caller's SSH user name on Hosts (the certificate principal).
	Principal string          `json:"principal"`
	Hosts     []ReachableHost `json:"hosts"`
}

// ReachableHost is one Host the caller may reach, with what the policy would grant.
type ReachableHost struct {
	HostInfo
	// Channels are the channel kinds the policy would allow.
	Channels []string `json:"channels"`
	// MinEncryption is the weakest encryption level the policy would accept.
	MinEncryption string `json:"min_encryption"`
}
