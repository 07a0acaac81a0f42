package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
)

// Bounds of a policy impact run.
const (
	// impactTimeout bounds compiling the candidate and replaying the records.
	impactTimeout = 2 * time.Minute
	// defaultImpactWindow is the time range replayed when the form names none.
	defaultImpactWindow = 7 * 24 * time.Hour
	// maxShownChanges bounds the flips a page lists (all are counted).
	maxShownChanges = 500
)

// forbiddenBuiltins are builtins a candidate compiled inside the CM may not call: they reach
// the network or the CM's environment. `policy impact` on a workstation has no such bound.
var forbiddenBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

// impactView is the result of a policy impact run.
type impactView struct {
	Revision         string
	Since, Until     string
	Replayed         int
	Skipped          int
	Counts           map[string]int
	Changes          []policy.Change
	Truncated        int
	Error            string
	CSRF             string
	DefaultSince     string
	ShowImpactResult bool
}

// handleImpact replays the decision log of a time range against an uploaded candidate policy,
// as `policy impact` does: the records are read through the API (each page a decisions.query
// call the log records), so only those who may query the log may run it.
func (c *Console) handleImpact(w http.ResponseWriter, r *http.Request, u user) {
	v := impactView{ShowImpactResult: true, Since: r.PostFormValue("since"), Until: r.PostFormValue("until")}
	st, e := c.policyStatus(r, u)
	if e != nil {
		c.refused(w, r, u, "policy", e)
		return
	}
	q, bad := logFilter{Since: v.Since, Until: v.Until}.query()
	if bad == "" && v.Since == "" {
		q.Set(api.QuerySince, c.cfg.Now().Add(-defaultImpactWindow).UTC().Format(time.RFC3339))
	}
	if bad != "" {
		v.Error = bad
		c.renderPolicy(w, r, u, st, v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), impactTimeout)
	defer cancel()
	candidate, err := c.candidate(ctx, r)
	if err != nil {
		v.Error = err.Error()
		c.renderPolicy(w, r, u, st, v)
		return
	}
	v.Revision = candidate.Revision()
	rep, err := policy.Impact(ctx, candidate, policy.RecordedDecisions(c.records(r.WithContext(ctx), u, q)))
	if err != nil {
		v.Error = err.Error()
		c.renderPolicy(w, r, u, st, v)
		return
	}
	v.Replayed, v.Skipped, v.Counts, v.Changes = rep.Replayed, rep.Skipped, rep.Counts, rep.Changes
	if len(v.Changes) > maxShownChanges {
		v.Truncated, v.Changes = len(v.Changes)-maxShownChanges, v.Changes[:maxShownChanges]
	}
	c.renderPolicy(w, r, u, st, v)
}

// candidate reads the uploaded archive, refuses modules calling forbiddenBuiltins and compiles
// it (with the default input schema when it has none).
func (c *Console) candidate(ctx context.Context, r *http.Request) (*policy.Engine, error) {
	f, _, err := r.FormFile("candidate")
	if err != nil {
		return nil, errors.New("choose a candidate policy archive to upload")
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	if err != nil || len(raw) > maxUpload {
		return nil, fmt.Errorf("the candidate must be at most %d bytes", maxUpload)
	}
	fsys, err := readPolicyArchive(raw)
	if err != nil {
		return nil, err
	}
	if err := checkBuiltins(fsys); err != nil {
		return nil, err
	}
	eng, err := policy.New(ctx, policy.WithFS(policy.WithDefaultSchema(fsys)), policy.WithLogger(c.cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("the candidate does not compile: %w", err)
	}
	return eng, nil
}

// checkBuiltins refuses a module that calls a builtin reaching the network or the CM's
// environment.
func checkBuiltins(fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
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
		if bad != "" {
			return fmt.Errorf("%s calls %s, which the console does not run inside the CM (run `portcullis policy impact` instead)", p, bad)
		}
		return nil
	})
}

func forbidden(name string) bool {
	for _, f := range forbiddenBuiltins {
		if name == f || strings.HasSuffix(f, ".") && strings.HasPrefix(name, f) {
			return true
		}
	}
	return false
}

// records reads every record of the query, page by page, through the API.
func (c *Console) records(r *http.Request, u user, q url.Values) iter.Seq2[api.Decision, error] {
	return func(yield func(api.Decision, error) bool) {
		q := maps(q)
		q.Set(api.QueryLimit, strconv.Itoa(exportPage))
		for {
			var pg api.DecisionPage
			if e := c.call(r, u, http.MethodGet, api.PathDecisions, q, nil, &pg); e != nil {
				yield(api.Decision{}, e)
				return
			}
			for _, d := range pg.Decisions {
				if !yield(d, nil) {
					return
				}
			}
			if pg.Next == "" {
				return
			}
			q.Set(api.QueryCursor, pg.Next)
		}
	}
}

// maps copies a query.
func maps(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
