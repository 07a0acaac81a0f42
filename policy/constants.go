package policy

import (
	"context"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// constants are the values of a policy's constant rules (`roles := {...}`, and any complete
// rule computed from such tables alone: see constantRules), evaluated once when the policy
// loads. OPA evaluates every rule a decision reads afresh for each decision, a constant table
// included; seeding each decision's rule cache with these values (seededCache) spares that
// work and changes no result: evaluating such a rule can only give its value. It is what
// partial evaluation would inline, for the rules whose value depends on nothing the request
// carries.
// A constants is never changed after New, and is shared by concurrent decisions.
type constants struct {
	cache topdown.VirtualCache
}

// loadConstants evaluates the constant rules of modules into constants, an undefined one as
// undefined; nil when there are none, or when evaluating them failed (the decisions then
// evaluate them as OPA always does, and fail as it would). c is the compiled policy.
func loadConstants(ctx context.Context, c *ast.Compiler) *constants {
	paths := constantRules(c)
	if len(paths) == 0 {
		return nil
	}
	refs := make([]string, len(paths))
	for i, p := range paths {
		refs[i] = "[v | v := " + p.String() + "]" // [] when undefined
	}
	q, err := rego.New(rego.Query("["+strings.Join(refs, ", ")+"]"), rego.Compiler(c)).PrepareForEval(ctx)
	if err != nil {
		return nil
	}
	rs, err := q.Eval(ctx, asTerm)
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil
	}
	values, ok := t.Value.(*ast.Array)
	if !ok || values.Len() != len(paths) {
		return nil
	}
	cache := topdown.NewVirtualCache()
	for i, p := range paths {
		value, ok := values.Elem(i).Value.(*ast.Array)
		if !ok || value.Len() > 1 {
			return nil
		}
		if value.Len() == 0 {
			cache.Put(p, nil) // undefined
			continue
		}
		cache.Put(p, value.Elem(0))
	}
	return &constants{cache: cache}
}

// constantRules are the paths (data.pkg.name) of the rules compiled in c that are constants:
// every rule at or under the path is complete (no key, no arguments, a one-part name) and
// reads nothing a decision may change, directly or through the rules and functions it
// calls: no input, no `with`, no builtin that may answer differently each time (time.now_ns,
// http.send, rand.intn: OPA marks them non-deterministic) or that is not OPA's own. Defaults
// and else are allowed. Such a rule has one value per policy, which evaluating it once gives.
func constantRules(c *ast.Compiler) []ast.Ref {
	pure := purity{compiler: c, known: map[*ast.Rule]bool{}}
	var paths []ast.Ref
	for _, m := range c.Modules {
		for name := range topLevelNames(m) {
			path := m.Package.Path.Append(ast.StringTerm(name))
			if pure.constant(c.GetRules(path)) {
				paths = append(paths, path)
			}
		}
	}
	slices.SortFunc(paths, func(a, b ast.Ref) int { return a.Compare(b) })
	return slices.CompactFunc(paths, func(a, b ast.Ref) bool { return a.Equal(b) })
}

// topLevelNames are the names the rules of m define directly under its package.
func topLevelNames(m *ast.Module) map[string]bool {
	names := map[string]bool{}
	for _, r := range m.Rules {
		if name, ok := r.Head.Ref()[0].Value.(ast.Var); ok {
			names[string(name)] = true
		}
	}
	return names
}

// purity decides which rules read nothing a decision may change, remembering each answer.
type purity struct {
	compiler *ast.Compiler
	known    map[*ast.Rule]bool
}

// constant reports whether rules, every rule at or under a path, make a constant.
func (p purity) constant(rules []*ast.Rule) bool {
	if len(rules) == 0 {
		return false
	}
	for _, r := range rules {
		h := r.Head
		if len(h.Args) > 0 || h.Key != nil || h.Value == nil || len(h.Ref()) != 1 {
			return false
		}
		if !p.pure(r) {
			return false
		}
	}
	return true
}

// pure reports whether r, with its else chain and every rule it depends on, reads no input,
// uses no `with` and calls only deterministic builtins.
func (p purity) pure(r *ast.Rule) bool {
	if known, ok := p.known[r]; ok {
		return known
	}
	p.known[r] = false // rules are not recursive; this only guards against a cycle
	ok := true
	for x := r; x != nil && ok; x = x.Else { // the graph has each else branch's own dependencies
		ok = readsOnlyTheModules(x)
		for dep := range p.compiler.Graph.Dependencies(x) {
			if d, isRule := dep.(*ast.Rule); !isRule || !p.pure(d) {
				ok = false
				break
			}
		}
	}
	p.known[r] = ok
	return ok
}

// readsOnlyTheModules reports whether r's head and body (not its else) read no input, use no
// `with` and call only deterministic builtins or the policy's own functions.
func readsOnlyTheModules(r *ast.Rule) bool {
	ok := true
	visit := func(x any) bool {
		switch x := x.(type) {
		case *ast.Expr:
			if len(x.With) > 0 || (x.IsCall() && !callable(x.OperatorTerm())) {
				ok = false
			}
		case ast.Call:
			if !callable(x[0]) {
				ok = false
			}
		case ast.Ref:
			if x.HasPrefix(ast.InputRootRef) {
				ok = false
			}
		}
		return !ok
	}
	ast.NewGenericVisitor(visit).Walk(r.Head)
	ast.NewGenericVisitor(visit).Walk(r.Body)
	return ok
}

// callable reports whether calling op cannot make a rule's value change between decisions:
// the policy's own functions (pure answers for them), and deterministic builtins
// (Nondeterministic) other than print and trace (which write where a decision would).
func callable(op *ast.Term) bool {
	ref, ok := op.Value.(ast.Ref)
	if !ok {
		return false
	}
	if ref.HasPrefix(ast.DefaultRootRef) {
		return true
	}
	b, ok := ast.BuiltinMap[ref.String()]
	return ok && !Nondeterministic(b) && b.Name != ast.Print.Name && b.Name != ast.InternalPrint.Name && b.Name != ast.Trace.Name
}

// seededCache is the rule cache of one decision: the constants' values first, then what the
// decision itself caches. Under a `with` (a pushed frame) it leaves the constants out, since
// `with` may replace what they read.
type seededCache struct {
	topdown.VirtualCache
	constants topdown.VirtualCache
	depth     int
}

// newCache is a rule cache for one decision, seeded with c; nil (OPA's own) when c is nil.
func (c *constants) newCache() topdown.VirtualCache {
	if c == nil {
		return nil
	}
	return &seededCache{VirtualCache: topdown.NewVirtualCache(), constants: c.cache}
}

// Push starts a frame of its own (a `with`).
func (s *seededCache) Push() { s.depth++; s.VirtualCache.Push() }

// Pop ends the frame of a `with`.
func (s *seededCache) Pop() { s.depth--; s.VirtualCache.Pop() }

// Get is a constant's value, or what the decision cached for ref.
func (s *seededCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if s.depth == 0 {
		if v, undefined := s.constants.Get(ref); v != nil || undefined {
			return v, undefined
		}
	}
	return s.VirtualCache.Get(ref)
}
