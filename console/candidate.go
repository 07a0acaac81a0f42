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

// forbiddenBuiltins are builtins a candidate compiled inside the CM may not call: they reach
// the network or the CM's environment. `policy impact` on a workstation has no such bound.
var forbiddenBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

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
// that do not parse or call forbiddenBuiltins, runs the candidate's tests, which must all
// pass, and compiles it (with the default input schema when it has none).
func (c *Console) candidate(ctx context.Context, r *http.Request) (candidate, error) {
	fsys, pasted, err := candidateFiles(r)
	if err != nil {
		return candidate{}, err
	}
	pkgs, err := checkModules(fsys)
	if err != nil {
		return candidate{}, err
	}
	cand := candidate{pasted: pasted, packages: pkgs}
	fsys = policy.WithDefaultSchema(fsys)
	if hasTests(fsys) {
		rep, err := policy.Test(ctx, fsys)
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
	cand.engine, err = policy.New(ctx, policy.WithFS(fsys), policy.WithLogger(c.cfg.Logger))
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

// checkModules parses every module and refuses one that does not parse or calls a builtin
// reaching the network or the CM's environment; it returns the packages the modules declare.
func checkModules(fsys fs.FS) (map[string]bool, error) {
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
		if bad := forbiddenCall(m); bad != "" {
			return fmt.Errorf("%s calls %s, which the console does not run inside the CM (run `portcullis policy impact` instead)", p, bad)
		}
		return nil
	})
	return pkgs, err
}

// forbiddenCall returns the first forbidden builtin the module calls, "" for none.
func forbiddenCall(m *ast.Module) string {
	var bad string
	ast.WalkExprs(m, func(x *ast.Expr) bool {
		if op := x.Operator(); op != nil && forbidden(op.String()) {
			bad = op.String()
		}
		return bad != ""
	})
	ast.WalkTerms(m, func(t *ast.Term) bool {
		if call, ok := t.Value.(ast.Call); ok && len(call) > 0 && forbidden(call[0].String()) {
			bad = call[0].String()
		}
		return bad != ""
	})
	return bad
}

func forbidden(name string) bool {
	for _, f := range forbiddenBuiltins {
		if name == f || strings.HasSuffix(f, ".") && strings.HasPrefix(name, f) {
			return true
		}
	}
	return false
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
