package policy

import (
	"context"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// constants are the values of a policy's constant rules (`roles := {...}`: one definition, a
// ground value, no body, no default, no else), evaluated once when the policy loads. OPA
// evaluates every rule a decision reads afresh for each decision, a constant table included;
// seeding each decision's rule cache with these values (seededCache) spares that work and
// changes no result: evaluating such a rule can only give its value. It is what partial
// evaluation would inline, for the rules whose value depends on nothing the request carries.
// A constants is never changed after New, and is shared by concurrent decisions.
type constants struct {
	cache topdown.VirtualCache
}

// loadConstants evaluates the constant rules of modules (as compiled with args) into
// constants; nil when there are none, or when evaluating them did not give one value each (the
// decisions then evaluate them as OPA always does).
func loadConstants(ctx context.Context, modules map[string]*ast.Module, args []func(*rego.Rego)) *constants {
	paths := constantRules(modules)
	if len(paths) == 0 {
		return nil
	}
	refs := make([]string, len(paths))
	for i, p := range paths {
		refs[i] = p.String()
	}
	q, err := rego.New(append([]func(*rego.Rego){rego.Query("[" + strings.Join(refs, ", ") + "]")}, args...)...).PrepareForEval(ctx)
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
		cache.Put(p, values.Elem(i))
	}
	return &constants{cache: cache}
}

// constantRules are the paths (data.pkg.name) of the rules of modules that are constants: the
// only rule at or under their path, complete, not default, without else or arguments, with
// the body `true` and a ground value.
func constantRules(modules map[string]*ast.Module) []ast.Ref {
	count := map[string]int{} // rules at or under each top-level rule path
	var candidates []ast.Ref
	for _, m := range modules {
		for _, r := range m.Rules {
			name, ok := r.Head.Ref()[0].Value.(ast.Var)
			if !ok {
				continue
			}
			path := m.Package.Path.Append(ast.StringTerm(string(name)))
			count[path.String()]++
			if isConstant(r) {
				candidates = append(candidates, path)
			}
		}
	}
	var paths []ast.Ref
	for _, p := range candidates {
		if count[p.String()] == 1 {
			paths = append(paths, p)
		}
	}
	slices.SortFunc(paths, func(a, b ast.Ref) int { return a.Compare(b) })
	return paths
}

// isConstant reports a rule `name := value` (or `name = value`) whose value is a literal and
// whose body is only `true`, as the parser writes a rule without one.
func isConstant(r *ast.Rule) bool {
	h := r.Head
	if r.Default || r.Else != nil || len(h.Args) > 0 || h.Key != nil || h.Value == nil || len(h.Ref()) != 1 {
		return false
	}
	return isLiteral(h.Value) && len(r.Body) == 1 && r.Body[0].Equal(ast.NewExpr(ast.BooleanTerm(true)))
}

// isLiteral reports a term made of scalars, arrays, objects and sets only: no variable, no
// reference (input.x counts as ground to OPA), no call, no comprehension.
func isLiteral(t *ast.Term) bool {
	literal := true
	ast.WalkTerms(t, func(t *ast.Term) bool {
		switch t.Value.(type) {
		case ast.Null, ast.Boolean, ast.Number, ast.String, *ast.Array, ast.Object, ast.Set:
		default:
			literal = false
		}
		return !literal
	})
	return literal
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
