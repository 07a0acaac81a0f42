package hostauth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Scheme names as the Host's configuration lists them.
const (
	SchemeCentral   = "central"
	SchemeAllowlist = "allowlist"
	SchemeConfirm   = "confirm"
	SchemePassword  = "password"
	SchemeRego      = "rego"
)

// Asker asks the Guest questions over the encrypted channel (SSH keyboard-interactive): one
// answer per question; echo says whether an answer may be shown while typed.
type Asker func(ctx context.Context, instruction string, questions []string, echo []bool) ([]string, error)

// Request is what a scheme decides on: the Guest as the Connection Manager certified it.
type Request struct {
	// User is the SSH user name, the certificate's principal: the subject.
	User string `json:"user"`
	// Groups are the subject's groups from the certificate.
	Groups []string `json:"groups"`
	// SessionID names the session.
	SessionID string `json:"session_id"`
	// DecisionID names the CM's decision that allowed it.
	DecisionID string `json:"decision_id"`
	// Obligations are the session's obligations.
	Obligations access.Obligations `json:"obligations"`
	// Host is this Host's name.
	Host string `json:"host"`
	// Time is when the Guest authenticated.
	Time time.Time `json:"time"`
	// Ask asks the Guest; nil when the connection cannot ask (a scheme that needs it refuses).
	Ask Asker `json:"-"`
}

// Scheme authorizes one session on the Host: nil allows, an error refuses and says why.
// Schemes are used by many sessions at once and must be safe for concurrent use.
type Scheme interface {
	Authorize(ctx context.Context, req *Request) error
}

// SchemeFunc adapts a function to Scheme.
type SchemeFunc func(ctx context.Context, req *Request) error

// Authorize calls f.
func (f SchemeFunc) Authorize(ctx context.Context, req *Request) error { return f(ctx, req) }

// Refusal is a scheme's refusal: which scheme, and why.
type Refusal struct {
	// Scheme names the scheme that refused.
	Scheme string
	// Reason is why it refused.
	Reason error
}

// Error names the scheme and its reason.
func (r *Refusal) Error() string {
	return fmt.Sprintf("host scheme %s refused: %v", r.Scheme, r.Reason)
}

// Unwrap gives access.ErrHostRefused and the reason.
func (r *Refusal) Unwrap() []error { return []error{access.ErrHostRefused, r.Reason} }

// Step is one named scheme of a Chain.
type Step struct {
	// Name is the scheme's name in the configuration.
	Name string
	// Scheme decides.
	Scheme Scheme
	// Asks reports whether the scheme needs Request.Ask.
	Asks bool
}

// Chain runs its steps in order; every one must allow. The empty chain allows (central alone).
type Chain []Step

// Authorize runs every step; the first refusal ends the chain as a *Refusal.
func (c Chain) Authorize(ctx context.Context, req *Request) error {
	for _, s := range c {
		if err := s.Scheme.Authorize(ctx, req); err != nil {
			return &Refusal{Scheme: s.Name, Reason: err}
		}
	}
	return nil
}

// Asks reports whether any step needs to ask the Guest.
func (c Chain) Asks() bool {
	return slices.ContainsFunc(c, func(s Step) bool { return s.Asks })
}

// Has reports whether the chain holds the named scheme.
func (c Chain) Has(name string) bool {
	return slices.ContainsFunc(c, func(s Step) bool { return s.Name == name })
}
