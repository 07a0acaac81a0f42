package policy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	// Policy time windows name IANA zones ("Europe/Copenhagen"); embed the zone database so
	// that they resolve on hosts and containers without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/portcullis/portcullis/access"
	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// Query is the Rego query every decision evaluates.
const Query = decisionPackage + "." + decisionRule

// APIQuery is the Rego query that decides the Connection Manager's admin and auditor API.
const APIQuery = apiPackage + "." + decisionRule

const (
	decisionPackage = "data.portcullis.authz"
	apiPackage      = "data.portcullis.api"
	decisionRule    = "decision"
)

// defaultAPIModule is the embedded default API policy, added to a policy that has none.
const defaultAPIModule = "api.rego"

// Reasons the engine gives when the policy cannot give its own; every one refuses.
const (
	// ReasonNoDecision: the decision rule was undefined for the input.
	ReasonNoDecision = "policy returned no decision"
	// ReasonMalformedDecision: the decision was not {"allow": bool, "reasons": [string], "obligations": {...}}.
	ReasonMalformedDecision = "policy returned a malformed decision"
	// ReasonEvalFailed: OPA failed to evaluate the query.
	ReasonEvalFailed = "policy evaluation failed"
	// ReasonInvalidInput: the input was not a JSON object.
	ReasonInvalidInput = "policy input is not a JSON object"
	// ReasonUnexplained: the policy refused without a reason.
	ReasonUnexplained = "policy refused without giving a reason"
)

// Errors returned by New, Decide and Test; check them with errors.Is.
var (
	// ErrInvalidPolicy: the policy files could not be read, parsed or compiled, or define no decision.
	ErrInvalidPolicy = errors.New("policy: invalid policy")
	// ErrEvaluation: OPA failed while evaluating the decision.
	ErrEvaluation = errors.New("policy: evaluation failed")
	// ErrMalformedDecision: the decision document did not have the decision's shape.
	ErrMalformedDecision = errors.New("policy: malformed decision")
	// ErrInvalidInput: the input given to DecideJSON was not a JSON object.
	ErrInvalidInput = errors.New("policy: invalid input")
)

// Decision is the policy's verdict on one request.
type Decision struct {
	// Allow is true only when the policy explicitly allowed the request.
	Allow bool `json:"allow"`
	// Reasons explain the verdict in words a user can act on; a refusal always has one.
	Reasons []string `json:"reasons"`
	// Obligations bind an allowed session; a refusal carries none.
	Obligations access.Obligations `json:"obligations"`
}

// Result is a Decision with what the decision log records about it.
type Result struct {
	// Decision is the verdict; it refuses whenever Decide returns an error.
	Decision Decision
	// Revision identifies the policy that decided (see Engine.Revision).
	Revision string
	// EvalNS is how long the evaluation took, in nanoseconds.
	EvalNS int64
	// Raw is the decision document as OPA returned it; nil when the policy returned none.
	Raw json.RawMessage
	// Input is the input document as the policy saw it.
	Input json.RawMessage

	// inputValue and rawValue are Input and Raw as OPA held them (nil when unknown): masking the
	// decision's log record (Event.WithValuesOf) then need not parse them again.
	inputValue, rawValue ast.Value
}

// Engine decides requests with one compiled policy. Create it with New; it is safe for
// concurrent use and holds no state that changes after New.
type Engine struct {
	query rego.PreparedEvalQuery
	api   rego.PreparedEvalQuery
	mask  *rego.PreparedEvalQuery
	// constants are the policy's constant rules, evaluated once (see constants).
	constants *constants
	revision  string
	loadedAt  time.Time
	logger    *slog.Logger
}

// Option configures New.
type Option func(*settings)

type settings struct {
	fsys     fs.FS
	logger   *slog.Logger
	revision string
	// withoutBuiltins are the builtins the policy may not refer to (WithoutBuiltins).
	withoutBuiltins []string
}

// WithFS reads the policy's .rego modules (not the _test.rego ones) and the optional
// input.schema.json from fsys; the default is the embedded default policy.
func WithFS(fsys fs.FS) Option {
	return func(s *settings) { s.fsys = fsys }
}

// WithDir reads the policy from a directory, as WithFS does.
func WithDir(dir string) Option {
	return WithFS(os.DirFS(dir))
}

// WithLogger sets the logger; nil (the default) discards logs.
func WithLogger(logger *slog.Logger) Option {
	return func(s *settings) { s.logger = logger }
}

// WithRevision names the policy's revision (a bundle's manifest revision) instead of the
// content hash Revision returns by default.
func WithRevision(revision string) Option {
	return func(s *settings) { s.revision = revision }
}

// New reads, parses and compiles the policy once (Rego v1, strict mode, type-checked against
// input.schema.json when present) and prepares the decision query and the API query. A policy
// that does not parse, compile or define data.portcullis.authz.decision is refused with
// ErrInvalidPolicy; one that defines no data.portcullis.api.decision gets the default API
// policy (api.rego of the embedded default policy).
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	s := settings{fsys: defaultpolicy.Files()}
	for _, opt := range opts {
		opt(&s)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	src, err := loadSource(s.fsys, false)
	if err != nil {
		return nil, err
	}
	if !src.definesRule(decisionPackage, decisionRule) {
		return nil, fmt.Errorf("%w: no module of package %s defines the rule %q", ErrInvalidPolicy, decisionPackage, decisionRule)
	}
	if !src.definesRule(apiPackage, decisionRule) {
		if err := src.addModule(defaultpolicy.Files(), defaultAPIModule, false); err != nil {
			return nil, fmt.Errorf("%w: default API policy: %w", ErrInvalidPolicy, err)
		}
	}
	c, err := compilePolicy(src, s.withoutBuiltins)
	if err != nil {
		return nil, err
	}
	query, err := prepareQuery(ctx, c, Query)
	if err != nil {
		return nil, err
	}
	api, err := prepareQuery(ctx, c, APIQuery)
	if err != nil {
		return nil, err
	}
	e := &Engine{query: query, api: api, constants: loadConstants(ctx, c),
		revision: cmp.Or(s.revision, src.revision()), loadedAt: time.Now(), logger: s.logger}
	if src.definesRule(maskPackage, maskRule) {
		mask, err := prepareQuery(ctx, c, MaskQuery)
		if err != nil {
			return nil, err
		}
		e.mask = &mask
	}
	e.logger.Info("policy loaded", "revision", e.revision, "modules", len(src.modules), "masks", e.mask != nil)
	return e, nil
}

// compilePolicy compiles src's modules once, shared by every query of the Engine and by its
// constants, without the builtins named (see WithoutBuiltins).
func compilePolicy(src *source, without []string) (*ast.Compiler, error) {
	c := src.newCompiler(capabilities(without))
	if c.Compile(src.modules); c.Failed() {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, explainWithheld(c.Errors, without))
	}
	return c, nil
}

// prepareQuery prepares query against the compiled policy c.
func prepareQuery(ctx context.Context, c *ast.Compiler, query string) (rego.PreparedEvalQuery, error) {
	q, err := rego.New(rego.Query(query), rego.Compiler(c)).PrepareForEval(ctx)
	if err != nil {
		return q, fmt.Errorf("%w: %s: %w", ErrInvalidPolicy, query, err)
	}
	return q, nil
}

// Current returns e itself: a fixed Engine is a Source that never changes.
func (e *Engine) Current() *Engine { return e }

// Status describes e as a Source that loaded once.
func (e *Engine) Status() Status {
	return Status{Revision: e.revision, LoadedAt: e.loadedAt, Origin: OriginFixed}
}

// BundleName names the CM's policy in decision-log events ("bundles": {BundleName: {"revision":
// Revision()}}): the CM serves one policy, from a directory or an OPA bundle.
const BundleName = "portcullis"

// Revision is the sha256 (hex) of the deciding modules: over their paths and texts in path
// order. Tests and the input schema do not change it.
func (e *Engine) Revision() string {
	return e.revision
}

// Decide evaluates the policy for in. Its Decision refuses unless the policy allowed:
//   - evaluation failed: Reasons [ReasonEvalFailed], error wrapping ErrEvaluation;
//   - the decision was undefined: Reasons [ReasonNoDecision], nil error;
//   - the decision was malformed: Reasons [ReasonMalformedDecision], error wrapping ErrMalformedDecision.
//
// Callers treat any error as a refusal too.
func (e *Engine) Decide(ctx context.Context, in Input) (Result, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return Result{Decision: refusal(ReasonInvalidInput), Revision: e.revision}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return e.decide(ctx, e.query, raw, in.astValue())
}

// DecideJSON is Decide for an input document already in JSON, such as one read back from the
// decision log to replay it; it must be a JSON object, or ErrInvalidInput is returned.
func (e *Engine) DecideJSON(ctx context.Context, input json.RawMessage) (Result, error) {
	value, err := parseInput(input)
	if err != nil {
		return Result{Decision: refusal(ReasonInvalidInput), Revision: e.revision, Input: input}, err
	}
	return e.decide(ctx, e.query, input, value)
}

// DecideAPIJSON is DecideAPI for an input document already in JSON, as DecideJSON is Decide's.
func (e *Engine) DecideAPIJSON(ctx context.Context, input json.RawMessage) (Result, error) {
	value, err := parseInput(input)
	if err != nil {
		return Result{Decision: refusal(ReasonInvalidInput), Revision: e.revision, Input: input}, err
	}
	return e.decide(ctx, e.api, input, value)
}

// DecideAPI evaluates APIQuery for in: may the subject perform in.Request.Operation on the
// Connection Manager's API? It refuses exactly as Decide does; obligations are ignored.
func (e *Engine) DecideAPI(ctx context.Context, in Input) (Result, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return Result{Decision: refusal(ReasonInvalidInput), Revision: e.revision}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return e.decide(ctx, e.api, raw, in.astValue())
}

// decide evaluates a prepared query for input, already converted to the AST value, and
// decodes its decision.
func (e *Engine) decide(ctx context.Context, query rego.PreparedEvalQuery, input json.RawMessage, value ast.Value) (Result, error) {
	res := Result{Decision: refusal(ReasonInvalidInput), Revision: e.revision, Input: input, inputValue: value}
	start := time.Now()
	rs, err := evalOnce(ctx, query, value, e.constants)
	res.EvalNS = time.Since(start).Nanoseconds()
	if err != nil {
		res.Decision = refusal(ReasonEvalFailed)
		e.logger.Warn("policy evaluation failed", "err", err)
		return res, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		res.Decision = refusal(ReasonNoDecision)
		e.logger.Warn("policy returned no decision", "revision", e.revision)
		return res, nil
	}
	if res.Raw, err = resultJSON(rs[0].Expressions[0].Value); err != nil {
		res.Decision = refusal(ReasonMalformedDecision)
		return res, fmt.Errorf("%w: %w", ErrMalformedDecision, err)
	}
	if t, ok := rs[0].Expressions[0].Value.(*ast.Term); ok {
		res.rawValue = t.Value
	}
	if d, ok := decodeDecisionValue(rs[0].Expressions[0].Value); ok { // the common shapes, without JSON
		res.Decision = d
	} else if res.Decision, err = decodeDecision(res.Raw); err != nil {
		res.Decision = refusal(ReasonMalformedDecision)
		e.logger.Warn("policy returned a malformed decision", "revision", e.revision, "err", err)
		return res, err
	}
	e.logger.Debug("policy decided", "allow", res.Decision.Allow, "reasons", res.Decision.Reasons, "eval_ns", res.EvalNS)
	return res, nil
}

// evalOnce evaluates a prepared query for one input with the least per-call machinery: the
// context cancels the evaluation through context.AfterFunc instead of the goroutine that OPA
// starts for every evaluation otherwise, no metrics are collected (the caller times it), and
// the result stays an AST term for resultJSON; the rule cache starts with the policy's
// constants when it has any.
func evalOnce(ctx context.Context, query rego.PreparedEvalQuery, value ast.Value, c *constants) (rego.ResultSet, error) {
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	opts := []rego.EvalOption{rego.EvalParsedInput(value), rego.EvalExternalCancel(cancel), rego.EvalMetrics(metrics.NoOp()), asTerm}
	if c != nil {
		opts = append(opts, rego.EvalVirtualCache(c.newCache()))
	}
	return query.Eval(ctx, opts...)
}

// parseInput converts a JSON object into the AST value OPA evaluates, refusing anything else.
func parseInput(input json.RawMessage) (ast.Value, error) {
	value, err := parseJSON(input)
	if err != nil {
		return nil, err
	}
	if _, ok := value.(ast.Object); !ok {
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrInvalidInput, ast.ValueName(value))
	}
	return value, nil
}

// parseJSON is the AST value of a JSON document; ErrInvalidInput when it is not JSON.
func parseJSON(raw []byte) (ast.Value, error) {
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%w: not valid JSON", ErrInvalidInput)
	}
	value, err := ast.ValueFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return value, nil
}

// decodeDecision reads a decision document. "allow" must be a boolean, "reasons" a list of
// strings and "obligations" an object with only the known obligation fields, and a
// max_duration_seconds that is not negative: an obligation the engine does not know, or
// cannot enforce, makes the decision malformed.
// Other top-level members are ignored (they stay in Result.Raw).
func decodeDecision(raw []byte) (Decision, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return Decision{}, fmt.Errorf("%w: not an object: %s", ErrMalformedDecision, raw)
	}
	var d Decision
	if err := json.Unmarshal(doc["allow"], &d.Allow); err != nil || bytes.Equal(doc["allow"], []byte("null")) {
		return Decision{}, fmt.Errorf("%w: allow must be a boolean: %s", ErrMalformedDecision, raw)
	}
	if r, ok := doc["reasons"]; ok {
		if err := json.Unmarshal(r, &d.Reasons); err != nil {
			return Decision{}, fmt.Errorf("%w: reasons must be a list of strings: %w", ErrMalformedDecision, err)
		}
	}
	if o, ok := doc["obligations"]; ok {
		dec := json.NewDecoder(bytes.NewReader(o))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d.Obligations); err != nil {
			return Decision{}, fmt.Errorf("%w: obligations: %w", ErrMalformedDecision, err)
		}
		if d.Obligations.MaxDurationSeconds < 0 {
			return Decision{}, fmt.Errorf("%w: obligations: max_duration_seconds must not be negative, got %d", ErrMalformedDecision, d.Obligations.MaxDurationSeconds)
		}
	}
	if !d.Allow {
		d.Obligations = access.Obligations{}
		if len(d.Reasons) == 0 {
			d.Reasons = []string{ReasonUnexplained}
		}
	}
	return d, nil
}

// refusal is a Decision that refuses for one reason.
func refusal(reason string) Decision {
	return Decision{Reasons: []string{reason}}
}
