package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// WithoutBuiltins compiles the policy, and passed to Test its tests too, with OPA's
// capabilities less the named builtins (e.g. "http.send"): the compiler then refuses any
// module that refers to one, called or named as a `with` replacement, with ErrInvalidPolicy.
// It is for policies trusted less than the Connection Manager, such as a console candidate.
func WithoutBuiltins(names ...string) Option {
	return func(s *settings) { s.withoutBuiltins = append(s.withoutBuiltins, names...) }
}

// readsTheClock are the builtins whose answer depends on the wall clock though OPA does not
// mark them non-deterministic: certificate chains verified at the time of the call (the
// options' CurrentTime, when given, fixes the time; a constant cannot tell).
var readsTheClock = []string{
	"crypto.x509.parse_and_verify_certificates",
	"crypto.x509.parse_and_verify_certificates_with_options",
}

// Nondeterministic reports whether the builtin b may answer differently for the same
// arguments: OPA marks it so (time.now_ns, rand.intn, http.send, …), or it reads the clock.
func Nondeterministic(b *ast.Builtin) bool {
	return b.Nondeterministic || slices.Contains(readsTheClock, b.Name)
}

// capabilities is OPA's capabilities for this version less the builtins named in without;
// nil (the compiler's default, every builtin) when without is empty.
func capabilities(without []string) *ast.Capabilities {
	if len(without) == 0 {
		return nil
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool {
		return slices.Contains(without, b.Name)
	})
	return caps
}

// explainWithheld names the withheld builtins a compile error may be about: OPA reports a
// reference to a builtin its capabilities leave out, other than a call, as an unsafe variable
// ("var http is unsafe" for `with f as http.send`).
func explainWithheld(err error, without []string) error {
	var named []string
	for _, name := range without {
		root, _, _ := strings.Cut(name, ".")
		if strings.Contains(err.Error(), "var "+root+" is unsafe") {
			named = append(named, name)
		}
	}
	if len(named) == 0 {
		return err
	}
	return fmt.Errorf("%w (this policy may not use %s)", err, strings.Join(named, ", "))
}
