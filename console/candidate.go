package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/portcullis/portcullis/policy"
)

// Fields of the Policy page's impact form.
const (
	// fieldArchive is the uploaded candidate: a policy directory as an archive.
	fieldArchive = "candidate"
	// fieldModule is a pasted candidate: one Rego module.
	fieldModule = "module"
	// fieldTestModule is the pasted module's Rego tests, optional.
	fieldTestModule = "test_module"
)

// Packages whose decisions the decision log records (rego/): a pasted module replays the
// records of its own package's decisions only.
const (
	pkgAuthz = "portcullis.authz"
	pkgAPI   = "portcullis.api"
)

// forbiddenBuiltins are the builtins a candidate compiled inside the CM may not refer to,
// called or named as a `with` replacement: those that reach the network or read the CM's
// process, and every builtin that may answer differently for the same arguments
// (policy.Nondeterministic: json.match_schema, whose schema may $ref a URL or a file,
// time.now_ns, rand.intn, a certificate chain verified at the time of the call, …), since a
// replay must be repeatable too.
// `policy impact` on a workstation has no such bound.
func forbiddenBuiltins() []string {
	names := []string{"http.send", "net.lookup_ip_addr", "opa.runtime"} // I/O, whatever OPA marks them
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if policy.Nondeterministic(b) && !slices.Contains(names, b.Name) {
			names = append(names, b.Name)
		}
	}
	return names
}

// candidate is a compiled candidate policy.
type candidate struct {
	engine *policy.Engine
	// tests counts its Rego tests, which all passed.
	tests int
	// pasted is set for a pasted module; packages are the packages its modules declare.
	pasted   bool
	packages map[string]bool
}

// candidate reads the pasted module (and its tests) or the uploaded archive, refuses modules
// that do not parse or use forbiddenBuiltins, runs the candidate's tests, which must all
// pass, and compiles it (with the default input schema when it has none). The tests and the
// policy compile without forbiddenBuiltins, so that OPA refuses any use of one however it is
// spelled; checkModules only names the common spellings more plainly first.
func (c *Console) candidate(ctx context.Context, r *http.Request) (candidate, error) {
	fsys, pasted, err := candidateFiles(r)
	if err != nil {
		return candidate{}, err
	}
	forbidden := forbiddenBuiltins()
	without := policy.WithoutBuiltins(forbidden...)
	pkgs, err := checkModules(fsys, forbidden)
	if err != nil {
		return candidate{}, err
	}
	cand := candidate{pasted: pasted, packages: pkgs}
	fsys = policy.WithDefaultSchema(fsys)
	if hasTests(fsys) {
		rep, err := policy.Test(ctx, fsys, without)
		if err != nil {
			return candidate{}, fmt.Errorf("the candidate's tests cannot run: %w", err)
		}
		if rep.Failed > 0 {
			msgs := make([]string, 0, len(rep.Failures))
			for _, f := range rep.Failures {
				msgs = append(msgs, f.Name+" ("+f.Location+"): "+f.Message)
			}
			return candidate{}, fmt.Errorf("%d of the candidate's %d tests fail: %s", rep.Failed, rep.Passed+rep.Failed, strings.Join(msgs, "; "))
		}
		cand.tests = rep.Passed
	}
	cand.engine, err = policy.New(ctx, policy.WithFS(fsys), policy.WithLogger(c.cfg.Logger), without)
	if err != nil {
		return candidate{}, fmt.Errorf("the candidate does not compile: %w", err)
	}
	return cand, nil
}

// candidateFiles returns the candidate's files: the pasted module and its tests, or the
// uploaded archive's; pasted tells which.
func candidateFiles(r *http.Request) (fs.FS, bool, error) {
	module, tests := strings.TrimSpace(r.PostFormValue(fieldModule)), strings.TrimSpace(r.PostFormValue(fieldTestModule))
	f, _, err := r.FormFile(fieldArchive)
	uploaded := err == nil
	if uploaded {
		defer f.Close()
	}
	switch {
	case uploaded && (module != "" || tests != ""):
		return nil, false, errors.New("paste a module or upload an archive, not both")
	case !uploaded && module == "" && tests != "":
		return nil, false, errors.New("paste the module its tests test too")
	case !uploaded && module == "":
		return nil, false, errors.New("paste a candidate Rego module or choose a policy archive to upload")
	case !uploaded:
		fsys := fstest.MapFS{"candidate.rego": {Data: []byte(module), Mode: 0o444}}
		if tests != "" {
			fsys["candidate_test.rego"] = &fstest.MapFile{Data: []byte(tests), Mode: 0o444}
		}
		return fsys, true, nil
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	if err != nil || len(raw) > maxUpload {
		return nil, false, fmt.Errorf("the candidate must be at most %d bytes", maxUpload)
	}
	fsys, err := readPolicyArchive(raw)
	return fsys, false, err
}

// hasTests reports whether fsys holds a _test.rego module.
func hasTests(fsys fs.FS) bool {
	found := false
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		found = found || err == nil && !d.IsDir() && strings.HasSuffix(p, "_test.rego")
		return nil
	})
	return found
}

// checkModules parses every module and refuses one that does not parse or uses a forbidden
// builtin (called, or named as a `with` replacement); it returns the packages the modules
// declare.
func checkModules(fsys fs.FS, forbidden []string) (map[string]bool, error) {
	pkgs := map[string]bool{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".rego" {
			return err
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("the candidate does not parse: %w", err)
		}
		if m == nil {
			return fmt.Errorf("the candidate's %s is empty", p)
		}
		pkgs[strings.TrimPrefix(m.Package.Path.String(), "data.")] = true
		if bad := forbiddenUse(m, forbidden); bad != "" {
			return fmt.Errorf("%s calls %s, which the console does not run inside the CM (run `portcullis policy impact` instead)", p, bad)
		}
		return nil
	})
	return pkgs, err
}

// forbiddenUse returns the first forbidden builtin the module calls or names as a `with`
// replacement value, "" for none.
func forbiddenUse(m *ast.Module, forbidden []string) string {
	var bad string
	check := func(name string) bool {
		if slices.Contains(forbidden, name) {
			bad = name
		}
		return bad != ""
	}
	ast.WalkExprs(m, func(x *ast.Expr) bool {
		if op := x.Operator(); op != nil && check(op.String()) {
			return true
		}
		for _, w := range x.With {
			if ref, ok := w.Value.Value.(ast.Ref); ok && check(ref.String()) {
				return true
			}
		}
		return false
	})
	ast.WalkTerms(m, func(t *ast.Term) bool {
		if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
			return bad != "" || check(call[0].String())
		}
		return bad != ""
	})
	return bad
}

// replayed passes on the records the candidate decides: a pasted module replays the records
// of its own package's decisions, and the others go without their input, which Impact counts
// as skipped.
func (c candidate) replayed(recs iter.Seq2[policy.Recorded, error]) iter.Seq2[policy.Recorded, error] {
	if !c.pasted {
		return recs
	}
	return func(yield func(policy.Recorded, error) bool) {
		for rec, err := range recs {
			authz := rec.Path == policy.DecisionPath
			api := strings.HasPrefix(rec.Path, policy.APIDecisionPathPrefix)
			if authz && !c.packages[pkgAuthz] || api && !c.packages[pkgAPI] {
				rec.Input = nil
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}
