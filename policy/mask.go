package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// MaskQuery is the rule that masks decision-log records, as in OPA's decision logs.
const MaskQuery = maskPackage + "." + maskRule

const (
	maskPackage = "data.system.log"
	maskRule    = "mask"
)

// Mask operations a mask rule may return.
const (
	maskRemove = "remove"
	maskUpsert = "upsert"
)

// ErrMask: the mask rule failed, or returned something that is not a mask.
var ErrMask = errors.New("policy: decision-log mask failed")

// Event is a decision-log record as OPA's decision-log event (its fields carry OPA's names):
// the mask rule gets it as its input, as OPA gives its mask policy, and changes its Input and
// Result; Erased and Masked say what it changed.
type Event struct {
	// DecisionID is the record's id.
	DecisionID string `json:"decision_id"`
	// Path is the rule that decided, e.g. "portcullis/authz/decision".
	Path string `json:"path"`
	// Input is the policy input.
	Input json.RawMessage `json:"input"`
	// Result is the decision document.
	Result json.RawMessage `json:"result,omitempty"`
	// Timestamp is when the decision was made.
	Timestamp time.Time `json:"timestamp"`
	// Labels are the record's labels (e.g. "cm": the replica that decided).
	Labels map[string]string `json:"labels,omitempty"`
	// Bundles are the policy bundles that decided, by name.
	Bundles map[string]BundleInfo `json:"bundles,omitempty"`
	// RequestedBy is the address of the client whose request started the decision.
	RequestedBy string `json:"requested_by,omitempty"`
	// ReqID numbers that request on the replica that decided.
	ReqID uint64 `json:"req_id,omitempty"`
	// Metrics are OPA's metrics of the evaluation, e.g. "timer_rego_query_eval_ns".
	Metrics map[string]int64 `json:"metrics,omitempty"`
	// Erased lists the pointers Mask removed; set by Mask, not seen by the mask rule.
	Erased []string `json:"erased,omitempty"`
	// Masked lists the pointers Mask replaced (upserted); set by Mask, not seen by the mask rule.
	Masked []string `json:"masked,omitempty"`

	// inputValue and resultValue are Input and Result as OPA holds them, when known
	// (WithValuesOf).
	inputValue, resultValue ast.Value
}

// BundleInfo describes one policy bundle of an Event.
type BundleInfo struct {
	// Revision is the bundle's revision.
	Revision string `json:"revision"`
}

// maskOp is one instruction of the mask rule: a JSON pointer to remove, or an object
// {"op": "remove"|"upsert", "path": POINTER, "value": ANY}.
type maskOp struct {
	Op    string
	Path  string
	Value ast.Value // upsert's value; null when the object has none
}

// Masks reports whether the policy defines data.system.log.mask.
func (e *Engine) Masks() bool { return e.mask != nil }

// Mask evaluates data.system.log.mask with ev (without Erased and Masked) as input, as OPA
// does for decision logs, and applies what it returns to ev's Input and Result: a string is a
// JSON pointer ("/input/subject/email") to erase; an object {"op": "remove", "path": P} erases
// P too; {"op": "upsert", "path": P, "value": V} sets P to V (creating objects on the way).
// Pointers start with /input or /result; a pointer to nothing is ignored. It returns the
// masked event with the pointers erased in Erased and those upserted in Masked, in order (OPA's
// "erased" and "masked"). A policy without a mask rule returns ev unchanged. Any failure
// returns ErrMask: the caller must not record the unmasked event.
func (e *Engine) Mask(ctx context.Context, ev Event) (Event, error) {
	ev.Erased, ev.Masked = nil, nil
	if e.mask == nil {
		return ev, nil
	}
	value, err := ev.value()
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrMask, err)
	}
	rs, err := evalOnce(ctx, *e.mask, value, nil)
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrMask, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return ev, nil
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return ev, fmt.Errorf("%w: %s returned %T, not a value", ErrMask, MaskQuery, rs[0].Expressions[0].Value)
	}
	ops, err := decodeMaskOps(t.Value)
	if err != nil {
		return ev, err
	}
	return applyMask(ev, ops)
}
