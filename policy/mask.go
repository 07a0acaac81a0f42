package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
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
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
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
	rs, err := e.mask.Eval(ctx, rego.EvalParsedInput(value))
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrMask, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return ev, nil
	}
	ops, err := decodeMaskOps(rs[0].Expressions[0].Value)
	if err != nil {
		return ev, err
	}
	return applyMask(ev, ops)
}

// decodeMaskOps reads the mask rule's value: a set (list) of pointers and operation objects.
func decodeMaskOps(v any) ([]maskOp, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be a set, got %T", ErrMask, MaskQuery, v)
	}
	ops := make([]maskOp, 0, len(list))
	for _, item := range list {
		switch it := item.(type) {
		case string:
			ops = append(ops, maskOp{Op: maskRemove, Path: it})
		case map[string]any:
			raw, _ := json.Marshal(it)
			var op maskOp
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrMask, raw, err)
			}
			if op.Op != maskRemove && op.Op != maskUpsert {
				return nil, fmt.Errorf("%w: unknown op %q", ErrMask, op.Op)
			}
			ops = append(ops, op)
		default:
			return nil, fmt.Errorf("%w: mask entries are pointers or objects, got %T", ErrMask, item)
		}
	}
	return ops, nil
}

// applyMask applies ops to the event's input and result documents; a document no op points
// into is neither decoded nor encoded again.
func applyMask(ev Event, ops []maskOp) (Event, error) {
	raws := map[string]json.RawMessage{"input": ev.Input, "result": ev.Result}
	docs := map[string]any{}
	out := ev
	for _, op := range ops {
		parts, err := splitPointer(op.Path)
		if err != nil {
			return ev, err
		}
		if raw := raws[parts[0]]; len(raw) > 0 && docs[parts[0]] == nil {
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				return ev, fmt.Errorf("%w: %s: %w", ErrMask, parts[0], err)
			}
			docs[parts[0]] = doc
		}
		if _, ok := docs[parts[0]]; !ok || len(parts) < 2 {
			return ev, fmt.Errorf("%w: pointer %q must point into /input or /result", ErrMask, op.Path)
		}
		switch {
		case op.Op == maskUpsert:
			upsert(docs, parts, op.Value)
			out.Masked = append(out.Masked, op.Path)
		case remove(docs, parts):
			out.Erased = append(out.Erased, op.Path)
		}
	}
	var err error
	if out.Input, err = remarshal(docs, "input", ev.Input); err == nil {
		out.Result, err = remarshal(docs, "result", ev.Result)
	}
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrMask, err)
	}
	return out, nil
}

func remarshal(docs map[string]any, name string, orig json.RawMessage) (json.RawMessage, error) {
	doc, ok := docs[name]
	if !ok {
		return orig, nil
	}
	return json.Marshal(doc)
}

// splitPointer splits a JSON pointer (RFC 6901) into its unescaped tokens.
func splitPointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%w: %q is not a JSON pointer", ErrMask, p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// remove deletes the member or element parts points to; false when there is none.
func remove(doc any, parts []string) bool {
	parent, ok := walk(doc, parts[:len(parts)-1])
	if !ok {
		return false
	}
	last := parts[len(parts)-1]
	switch p := parent.(type) {
	case map[string]any:
		if _, ok := p[last]; !ok {
			return false
		}
		delete(p, last)
		return true
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i >= len(p) {
			return false
		}
		p[i] = nil
		return true
	}
	return false
}

// upsert sets the member parts points to, creating objects on the way and replacing
// non-objects in the way.
func upsert(doc map[string]any, parts []string, value any) {
	cur := doc
	for _, k := range parts[:len(parts)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	cur[parts[len(parts)-1]] = value
}

// walk follows parts through objects and arrays.
func walk(doc any, parts []string) (any, bool) {
	cur := doc
	for _, k := range parts {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[k]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
