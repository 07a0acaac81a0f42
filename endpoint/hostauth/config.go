package hostauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// ErrBadConfig reports an unusable Config.
var ErrBadConfig = errors.New("hostauth: bad configuration")

// Config is the Host owner's chain of schemes and their settings. The zero Config is central
// alone.
type Config struct {
	// Chain names the schemes in order; "central" may be listed, and then only first (it
	// always runs first anyway). Default: central alone.
	Chain []string
	// AllowUsers and AllowGroups are the allowlist scheme's users and groups.
	AllowUsers, AllowGroups []string
	// ConfirmSocket is the unix socket notifiers answer on; required with confirm, or when a
	// policy may demand confirmation (Obligations.RequireConfirm).
	ConfirmSocket string
	// ConfirmGroup, when set, may answer on the socket too (mode 0660); default: the agent's user only.
	ConfirmGroup string
	// ConfirmTimeout is how long the local user has to answer; 0 means DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
	// PasswordFile is the password scheme's argon2id file; required with password.
	PasswordFile string
	// StateDir is the Host's state directory, where the password scheme keeps its lock table
	// (LockStateFile, mode 0600); required with password.
	StateDir string
	// Logger receives the schemes' own errors (a lock table that cannot be written, a corrupt
	// one moved aside); nil discards them.
	Logger *slog.Logger
	// RegoFile is the rego scheme's policy; required with rego.
	RegoFile string
}

// Validate returns every problem at once, each wrapping ErrBadConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	known := []string{SchemeCentral, SchemeAllowlist, SchemeConfirm, SchemePassword, SchemeRego}
	for i, name := range c.Chain {
		switch {
		case !slices.Contains(known, name):
			bad("unknown scheme %q (known: %v)", name, known)
		case name == SchemeCentral && i != 0:
			bad("central must come first")
		case slices.Index(c.Chain, name) != i:
			bad("scheme %q is listed twice", name)
		}
	}
	needs := func(scheme, what, value string) {
		if slices.Contains(c.Chain, scheme) && value == "" {
			bad("scheme %s needs %s", scheme, what)
		}
	}
	needs(SchemeConfirm, "a confirm socket", c.ConfirmSocket)
	needs(SchemePassword, "a password file", c.PasswordFile)
	needs(SchemePassword, "a state dir", c.StateDir)
	needs(SchemeRego, "a rego file", c.RegoFile)
	if slices.Contains(c.Chain, SchemeAllowlist) && len(c.AllowUsers)+len(c.AllowGroups) == 0 {
		bad("scheme allowlist needs users or groups")
	}
	if c.ConfirmTimeout < 0 {
		bad("confirm timeout %v is negative", c.ConfirmTimeout)
	}
	return errors.Join(errs...)
}

// Schemes is a built chain: the schemes after central, and the confirm scheme that the Host
// serves its socket for (nil without a confirm socket).
type Schemes struct {
	// Chain is the schemes after central, in order.
	Chain Chain
	// Confirm is the confirm scheme, whose socket the Host serves; nil without a confirm socket.
	Confirm *Confirm
}

// Build validates the configuration and builds its schemes (compiling the Rego policy once).
func (c Config) Build(ctx context.Context) (*Schemes, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Schemes{}
	if c.ConfirmSocket != "" {
		s.Confirm = &Confirm{Timeout: c.ConfirmTimeout}
	}
	for _, name := range c.Chain {
		step := Step{Name: name}
		switch name {
		case SchemeCentral:
			continue // the certificate check, done by the SSH server itself
		case SchemeAllowlist:
			step.Scheme = Allowlist{Users: c.AllowUsers, Groups: c.AllowGroups}
		case SchemeConfirm:
			step.Scheme = s.Confirm
		case SchemePassword:
			p, err := NewPassword(c.PasswordFile, c.StateDir, nil, c.Logger)
			if err != nil {
				return nil, err
			}
			step.Scheme, step.Asks = p, true
		case SchemeRego:
			r, err := NewRego(ctx, c.RegoFile)
			if err != nil {
				return nil, err
			}
			step.Scheme = r
		}
		s.Chain = append(s.Chain, step)
	}
	return s, nil
}

// For returns the chain for a session with the given obligations: when the policy demands
// confirmation and the chain has no confirm step, confirm is appended — or, without a confirm
// socket, a step that refuses, since nobody could confirm.
func (s *Schemes) For(requireConfirm bool) Chain {
	if s == nil {
		s = &Schemes{}
	}
	if !requireConfirm || s.Chain.Has(SchemeConfirm) {
		return s.Chain
	}
	step := Step{Name: SchemeConfirm, Scheme: SchemeFunc(func(context.Context, *Request) error {
		return errors.New("the policy requires the Host's local user to confirm, and this Host has no confirm socket configured")
	})}
	if s.Confirm != nil {
		step.Scheme = s.Confirm
	}
	return append(slices.Clone(s.Chain), step)
}
