package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Defaults and limits of the identity layer.
const (
	// DefaultUserClaim is the claim that names the user when ClaimMapping.UserClaim is empty.
	DefaultUserClaim = "email"
	// DefaultGroupsClaim is the claim that lists the user's groups when ClaimMapping.GroupsClaim is empty.
	DefaultGroupsClaim = "groups"
	// DefaultMaxSkew is the clock skew tolerated on exp, nbf and iat when Config.MaxSkew is zero.
	DefaultMaxSkew = 30 * time.Second
	// MaxSkewLimit is the largest clock skew a Config may allow.
	MaxSkewLimit = 5 * time.Minute
	// MaxTokenBytes is the largest ID token Verify looks at (16 KiB).
	MaxTokenBytes = 16 << 10
	// DefaultHTTPTimeout bounds each request to the provider when Config.HTTPClient is nil.
	DefaultHTTPTimeout = 30 * time.Second
	// DiscoveryTimeout bounds one discovery request to the identity provider.
	DiscoveryTimeout = 10 * time.Second
	// DiscoveryRetryInterval is the least time between two discovery attempts
	// made by Verify while the identity provider is unreachable.
	DiscoveryRetryInterval = time.Second
)

// DefaultScopes returns the scopes requested when Config.Scopes is empty:
// an ID token with email, profile and groups, and a refresh token.
func DefaultScopes() []string {
	return []string{"openid", "email", "profile", "groups", "offline_access"}
}

// ClaimMapping says which ID token claims name the user and hold their groups.
type ClaimMapping struct {
	// UserClaim is the claim whose string value becomes Claims.Subject:
	// "email" (default), "preferred_username" or "sub" are the usual choices.
	UserClaim string
	// GroupsClaim is the claim holding the user's groups, a JSON array of
	// strings or one string; default "groups". A missing claim means no groups.
	GroupsClaim string
	// RequireEmailVerified refuses tokens whose email_verified claim is not
	// true (default false).
	RequireEmailVerified bool
	// RequireACR, when not empty, refuses tokens whose acr claim is none of these values
	// (default: any acr, or none).
	RequireACR []string
	// RequireAMR, when not empty, refuses tokens whose amr claim lacks any of these methods,
	// e.g. ["mfa"] (default: no requirement).
	RequireAMR []string
}

// Config describes one identity provider and this relying party's client.
type Config struct {
	// Issuer is the provider's issuer URL, e.g. https://127.0.0.1:8443/idp.
	// Required; https, or http for a loopback host only.
	Issuer string
	// ClientID is this relying party's OAuth client id, the expected audience. Required.
	ClientID string
	// ClientSecret is sent by the sign-in flows for providers that give native ("desktop")
	// clients a secret that is not confidential, such as Google; "" for a public client.
	ClientSecret string
	// Scopes requested by DeviceLogin; default DefaultScopes().
	Scopes []string
	// Mapping selects the user and groups claims; see ClaimMapping for defaults.
	Mapping ClaimMapping
	// HTTPClient talks to the provider (its TLS roots, timeouts); nil means
	// a client with the system roots and DefaultHTTPTimeout.
	HTTPClient *http.Client
	// MaxSkew is the clock skew tolerated on exp, nbf and iat; default
	// DefaultMaxSkew, at most MaxSkewLimit.
	MaxSkew time.Duration
	// JWKSRefetchInterval is the least time between two fetches of the provider's JWKS, made
	// when a token names a key id not held (keyset.go); default DefaultJWKSRefetchInterval.
	JWKSRefetchInterval time.Duration
	// Logger receives discovery and refusal events; nil discards them.
	Logger *slog.Logger
	// Now returns the current time for token time checks; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if err := validateIssuer(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("identity: client id is required"))
	}
	if c.JWKSRefetchInterval < 0 {
		errs = append(errs, fmt.Errorf("identity: JWKS refetch interval %s is negative", c.JWKSRefetchInterval))
	}
	if c.MaxSkew < 0 || c.MaxSkew > MaxSkewLimit {
		errs = append(errs, fmt.Errorf("identity: max skew %s is outside 0..%s", c.MaxSkew, MaxSkewLimit))
	}
	return errors.Join(errs...)
}

func validateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("identity: issuer is required")
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("identity: issuer %q: %w", issuer, err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("identity: issuer %q has no host", issuer)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("identity: issuer %q must not have a query or fragment", issuer)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("identity: issuer %q must use https (http only on a loopback host)", issuer)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDefaults returns a copy of c with every unset field given its default.
func (c Config) withDefaults() Config {
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes()
	}
	if c.Mapping.UserClaim == "" {
		c.Mapping.UserClaim = DefaultUserClaim
	}
	if c.Mapping.GroupsClaim == "" {
		c.Mapping.GroupsClaim = DefaultGroupsClaim
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.JWKSRefetchInterval == 0 {
		c.JWKSRefetchInterval = DefaultJWKSRefetchInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ValidateIssuer reports what is wrong with an issuer URL, as Validate does: it must be an
// https URL (http only on a loopback host) without a query or fragment.
func ValidateIssuer(issuer string) error { return validateIssuer(issuer) }
