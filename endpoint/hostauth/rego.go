package hostauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
)

// The host-local Rego policy is one module in package portcullis.host. It sees the Request as
// input (user, groups, session_id, decision_id, obligations, host, time) and must define
//
//	allow   true to allow; undefined or anything else refuses
//	deny    optional set of strings: the reasons given when it refuses
//
// For example:
//
//	package portcullis.host
//	default allow := false
//	allow if "ops" in input.groups
//	deny contains "only ops may reach this workstation" if not allow
const regoQuery = "data.portcullis.host"

// Rego evaluates a host-local Rego policy with the real OPA engine, prepared once.
type Rego struct {
	query rego.PreparedEvalQuery
}

// NewRego compiles the policy in file; a broken policy is an error (the Host refuses to start
// rather than run without it).
func NewRego(ctx context.Context, file string) (*Rego, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("hostauth: rego policy: %w", err)
	}
	q, err := rego.New(rego.Query(regoQuery), rego.Module(file, string(src))).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("hostauth: rego policy %s: %w", file, err)
	}
	return &Rego{query: q}, nil
}

// regoResult is the portcullis.host document.
type regoResult struct {
	Allow any      `json:"allow"`
	Deny  []string `json:"deny"`
}

// Authorize evaluates the policy on the request; an evaluation error refuses.
func (r *Rego) Authorize(ctx context.Context, req *Request) error {
	raw, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode input: %w", err)
	}
	var input map[string]any
	if err := json.Unmarshal(raw, &input); err != nil {
		return fmt.Errorf("encode input: %w", err)
	}
	rs, err := r.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return fmt.Errorf("host policy evaluation failed (fail closed): %w", err)
	}
	var res regoResult
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		doc, _ := json.Marshal(rs[0].Expressions[0].Value)
		if err := json.Unmarshal(doc, &res); err != nil {
			return fmt.Errorf("host policy result: %w", err)
		}
	}
	if allow, _ := res.Allow.(bool); allow && len(res.Deny) == 0 {
		return nil
	}
	if len(res.Deny) == 0 {
		return errors.New("the host policy does not allow this session")
	}
	sort.Strings(res.Deny)
	return errors.New(strings.Join(res.Deny, "; "))
}
