package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// Event is the part of a decision-log record the mask rule sees (as its input) and changes.
type Event struct {
	// DecisionID is the record's id.
	DecisionID string `json:"decision_id"`
	// Path is the rule that decided, e.g. "portcullis/authz/decision".
	Path string `json:"path"`
	// Input is the policy input.
	Input json.RawMessage `json:"input"`
	// Result is the decision document.
	Result json.RawMessage `json:"result,omitempty"`
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

// Mask evaluates data.system.log.mask with ev as input and applies what it returns to ev's
// Input and Result, as OPA does for decision logs: a string is a JSON pointer
// ("/input/subject/email") to erase; an object {"op": "upsert", "path": P, "value": V} sets P
// to V (creating objects on the way). Pointers start with /input or /result; a pointer to
// nothing is ignored. It returns the masked event and the pointers it erased or upserted, in
// order. A policy without a mask rule returns ev unchanged. Any failure returns ErrMask: the
// caller must not record the unmasked event.
func (e *Engine) Mask(ctx context.Context, ev Event) (Event, []string, error) {
	if e.mask == nil {
		return ev, nil, nil
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return ev, nil, fmt.Errorf("%w: %w", ErrMask, err)
	}
	value, err := parseInput(raw)
	if err != nil {
		return ev, nil, fmt.Errorf("%w: %w", ErrMask, err)
	}
	rs, err := e.mask.Eval(ctx, rego.EvalParsedInput(value))
	if err != nil {
		return ev, nil, fmt.Errorf("%w: %w", ErrMask, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return ev, nil, nil
	}
	ops, err := decodeMaskOps(rs[0].Expressions[0].Value)
	if err != nil {
		return ev, nil, err
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

// applyMask applies ops to the event's input and result documents.
func applyMask(ev Event, ops []maskOp) (Event, []string, error) {
	docs := map[string]any{}
	for name, raw := range map[string]json.RawMessage{"input": ev.Input, "result": ev.Result} {
		if len(raw) == 0 {
			continue
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return ev, nil, fmt.Errorf("%w: %s: %w", ErrMask, name, err)
		}
		docs[name] = doc
	}
	var done []string
	for _, op := range ops {
		parts, err := splitPointer(op.Path)
		if err != nil {
			return ev, nil, err
		}
		if _, ok := docs[parts[0]]; !ok || len(parts) < 2 {
			return ev, nil, fmt.Errorf("%w: pointer %q must point into /input or /result", ErrMask, op.Path)
		}
		if op.Op == maskUpsert {
			upsert(docs, parts, op.Value)
		} else if !remove(docs, parts) {
			continue
		}
		done = append(done, op.Path)
	}
	out := ev
	var err error
	if out.Input, err = remarshal(docs, "input", ev.Input); err == nil {
		out.Result, err = remarshal(docs, "result", ev.Result)
	}
	if err != nil {
		return ev, nil, fmt.Errorf("%w: %w", ErrMask, err)
	}
	return out, done, nil
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
