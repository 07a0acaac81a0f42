package policy

import "time"

// Actions a request may ask the policy about.
const (
	// ActionConnect asks to open a session to a Host.
	ActionConnect = "connect"
	// ActionQueryDecisions asks to read the decision log.
	ActionQueryDecisions = "query_decisions"
	// ActionAdminister asks to manage enrollment tokens, hosts, locks or relays.
	ActionAdminister = "administer"
)

// Channel kinds a session may open, as listed in Obligations.Channels.
const (
	// ChannelShell is an interactive shell on a PTY.
	ChannelShell = "shell"
	// ChannelExec runs one command.
	ChannelExec = "exec"
	// ChannelSFTP is the sftp subsystem (file transfer).
	ChannelSFTP = "sftp"
	// ChannelForward is a port forward to one of Obligations.ForwardTargets.
	ChannelForward = "forward"
)

// Encryption levels, strongest first, as used by Request.Encryption and Obligations.MinEncryption.
const (
	// EncryptionVeryHigh is AES-256 with a post-quantum hybrid or ≥ 2048-bit DH key exchange.
	EncryptionVeryHigh = "very_high"
	// EncryptionHigh is the strong classical algorithm set.
	EncryptionHigh = "high"
	// EncryptionMedium is the widest compatible algorithm set.
	EncryptionMedium = "medium"
)

// Input is everything the policy sees about one request; it is marshalled to JSON with
// snake_case names and RFC 3339 times (zero times are omitted), as rego/input.schema.json describes.
type Input struct {
	// Subject is the signed-in user.
	Subject Subject `json:"subject"`
	// Host is the Host asked for; zero for requests that name no host.
	Host Host `json:"host"`
	// Request says what the subject asks for.
	Request Request `json:"request"`
	// Context holds the circumstances of the request.
	Context Context `json:"context"`
}

// Subject is the user behind a request, as the verified ID token describes them.
type Subject struct {
	// ID is the mapped user id, e.g. alice@example.com.
	ID string `json:"id"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// Email is the e-mail address.
	Email string `json:"email,omitempty"`
	// IdP is the issuer URL of the identity provider.
	IdP string `json:"idp,omitempty"`
	// Groups are the identity-provider groups.
	Groups []string `json:"groups"`
	// AMR lists the authentication methods; it contains "mfa" after a multi-factor sign-in.
	AMR []string `json:"amr"`
	// AuthTime is when the user signed in; zero when unknown.
	AuthTime time.Time `json:"auth_time,omitzero"`
	// EmailVerified reports whether the identity provider verified Email.
	EmailVerified bool `json:"email_verified,omitempty"`
	// ACR is the authentication context class the identity provider reported; "" when none.
	ACR string `json:"acr,omitempty"`
}

// Host is the enrolled device a request names.
type Host struct {
	// ID is the Host's id.
	ID string `json:"id,omitempty"`
	// Name is the Host's name, e.g. db-1.
	Name string `json:"name,omitempty"`
	// Tenant is the owning tenant, e.g. acme.
	Tenant string `json:"tenant,omitempty"`
	// OS is the Host's operating system.
	OS string `json:"os,omitempty"`
	// Tags are the enrollment tags, e.g. env=prod.
	Tags map[string]string `json:"tags,omitempty"`
	// Online reports whether the Host is heartbeating.
	Online bool `json:"online"`
	// LastSeen is the last heartbeat; zero when never seen.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Request says what the subject asks for.
type Request struct {
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Channels lists the channel kinds wanted; empty means whatever the policy permits.
	Channels []string `json:"channels,omitempty"`
	// Encryption is the encryption level wanted; empty means the policy's minimum.
	Encryption string `json:"encryption,omitempty"`
	// Operation names the API operation asked about by APIQuery, e.g. "hosts.disable";
	// empty for connect decisions.
	Operation string `json:"operation,omitempty"`
}

// Context holds the circumstances of a request.
type Context struct {
	// Time is when the request arrived; time windows are judged against it.
	Time time.Time `json:"time,omitzero"`
	// GuestAddr is the Guest's address as the CM saw it.
	GuestAddr string `json:"guest_addr,omitempty"`
	// Region is the Guest's region, if known.
	Region string `json:"region,omitempty"`
	// Relays are the healthy relays the CM could use; empty when it picks after the decision.
	Relays []RelayCandidate `json:"relays,omitempty"`
}

// RelayCandidate is a Connection Server the CM could route the session through.
type RelayCandidate struct {
	// ID is the relay's id, e.g. cs-eu-1.
	ID string `json:"id"`
	// Region is where the relay runs, e.g. eu-north.
	Region string `json:"region,omitempty"`
	// Owner is "vendor" or the tenant that runs the relay.
	Owner string `json:"owner"`
	// Private reports a customer-run relay reserved for its owner.
	Private bool `json:"private"`
}
