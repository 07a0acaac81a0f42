package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// decodeMaskOps reads the mask rule's value: a set (or array) of pointers and operation objects,
// in the set's sorted order.
func decodeMaskOps(v ast.Value) ([]maskOp, error) {
	var list *ast.Array
	switch v := v.(type) {
	case ast.Set:
		list = v.Sorted()
	case *ast.Array:
		list = v
	default:
		return nil, fmt.Errorf("%w: %s must be a set, got %s", ErrMask, MaskQuery, ast.ValueName(v))
	}
	ops := make([]maskOp, 0, list.Len())
	for i := range list.Len() {
		op, err := decodeMaskOp(list.Elem(i).Value)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// decodeMaskOp reads one entry of the mask: a pointer to remove, or an operation object.
func decodeMaskOp(v ast.Value) (maskOp, error) {
	switch it := v.(type) {
	case ast.String:
		return maskOp{Op: maskRemove, Path: string(it)}, nil
	case ast.Object:
		op := maskOp{Value: ast.Null{}}
		var err error
		if op.Op, err = stringMember(it, "op"); err != nil {
			return maskOp{}, err
		}
		if op.Path, err = stringMember(it, "path"); err != nil {
			return maskOp{}, err
		}
		if t := it.Get(ast.InternedTerm("value")); t != nil {
			op.Value = t.Value
		}
		if op.Op != maskRemove && op.Op != maskUpsert {
			return maskOp{}, fmt.Errorf("%w: unknown op %q", ErrMask, op.Op)
		}
		return op, nil
	}
	return maskOp{}, fmt.Errorf("%w: mask entries are pointers or objects, got %s", ErrMask, ast.ValueName(v))
}

// stringMember is the string o holds under name, "" when it holds none.
func stringMember(o ast.Object, name string) (string, error) {
	t := o.Get(ast.InternedTerm(name))
	if t == nil {
		return "", nil
	}
	s, ok := t.Value.(ast.String)
	if !ok {
		return "", fmt.Errorf("%w: %v: %s must be a string", ErrMask, o, name)
	}
	return string(s), nil
}

// maskedDoc is the input or the result of an event while the mask applies to it.
type maskedDoc struct {
	value   ast.Value
	touched bool // an operation pointed into it: it is encoded again
}

// applyMask applies ops to the event's input and result documents, as AST values that it
// copies where it changes them (the values an Event carries stay as they are); a document no
// op points into is neither decoded nor encoded again, and one that an op pointed into is
// encoded as encoding/json encodes its JSON decoding (keys sorted), numbers as they were written.
func applyMask(ev Event, ops []maskOp) (Event, error) {
	docs := map[string]*maskedDoc{}
	out := ev
	for _, op := range ops {
		parts, err := splitPointer(op.Path)
		if err != nil {
			return ev, err
		}
		doc, err := ev.documentFor(docs, parts[0])
		if err != nil {
			return ev, err
		}
		if doc == nil || len(parts) < 2 {
			return ev, fmt.Errorf("%w: pointer %q must point into /input or /result", ErrMask, op.Path)
		}
		doc.touched = true
		if op.Op == maskUpsert {
			doc.value = upsertAt(doc.value, parts[1:], op.Value)
			out.Masked = append(out.Masked, op.Path)
			continue
		}
		var removed bool
		if doc.value, removed = removeAt(doc.value, parts[1:]); removed {
			out.Erased = append(out.Erased, op.Path)
		}
	}
	var err error
	if out.Input, err = encodeMasked(docs["input"], ev.Input); err == nil {
		out.Result, err = encodeMasked(docs["result"], ev.Result)
	}
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrMask, err)
	}
	return out, nil
}

// documentFor returns the event's document name ("input" or "result") from docs, loading it on
// first use: the value OPA held when known, else its JSON parsed. It is nil for another name
// or a document the event does not have.
func (ev Event) documentFor(docs map[string]*maskedDoc, name string) (*maskedDoc, error) {
	if d, ok := docs[name]; ok {
		return d, nil
	}
	var raw json.RawMessage
	var known ast.Value
	switch name {
	case "input":
		raw, known = ev.Input, ev.inputValue
	case "result":
		raw, known = ev.Result, ev.resultValue
	}
	if len(raw) == 0 {
		return nil, nil
	}
	value, err := documentValue(raw, known)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMask, name, err)
	}
	docs[name] = &maskedDoc{value: value}
	return docs[name], nil
}

// encodeMasked is doc's JSON when an operation pointed into it, else orig unchanged.
func encodeMasked(doc *maskedDoc, orig json.RawMessage) (json.RawMessage, error) {
	if doc == nil || !doc.touched {
		return orig, nil
	}
	return resultJSON(ast.NewTerm(doc.value))
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

// removeAt returns v without the member or element parts points to (an element becomes null)
// and true, or v itself and false when there is none.
func removeAt(v ast.Value, parts []string) (ast.Value, bool) {
	switch c := v.(type) {
	case ast.Object:
		key := ast.StringTerm(parts[0])
		child := c.Get(key)
		if child == nil {
			return v, false
		}
		if len(parts) == 1 {
			return withMember(c, key, nil), true
		}
		next, ok := removeAt(child.Value, parts[1:])
		if !ok {
			return v, false
		}
		return withMember(c, key, next), true
	case *ast.Array:
		i, err := strconv.Atoi(parts[0])
		if err != nil || i < 0 || i >= c.Len() {
			return v, false
		}
		if len(parts) == 1 {
			return withElem(c, i, ast.Null{}), true
		}
		next, ok := removeAt(c.Elem(i).Value, parts[1:])
		if !ok {
			return v, false
		}
		return withElem(c, i, next), true
	}
	return v, false
}

// upsertAt returns v with the member parts points to set to value, creating objects on the
// way and replacing what is not an object in the way.
func upsertAt(v ast.Value, parts []string, value ast.Value) ast.Value {
	o, ok := v.(ast.Object)
	if !ok {
		o = ast.NewObject()
	}
	key := ast.StringTerm(parts[0])
	if len(parts) > 1 {
		var child ast.Value = ast.NewObject()
		if t := o.Get(key); t != nil {
			child = t.Value
		}
		value = upsertAt(child, parts[1:], value)
	}
	return withMember(o, key, value)
}

// withMember returns a copy of o with key set to value, or without key when value is nil.
func withMember(o ast.Object, key *ast.Term, value ast.Value) ast.Object {
	pairs := make([][2]*ast.Term, 0, o.Len()+1)
	o.Foreach(func(k, v *ast.Term) {
		if !k.Equal(key) {
			pairs = append(pairs, [2]*ast.Term{k, v})
		}
	})
	if value != nil {
		pairs = append(pairs, [2]*ast.Term{key, ast.NewTerm(value)})
	}
	return ast.NewObject(pairs...)
}

// withElem returns a copy of a with element i set to value.
func withElem(a *ast.Array, i int, value ast.Value) *ast.Array {
	elems := make([]*ast.Term, a.Len())
	for j := range elems {
		elems[j] = a.Elem(j)
	}
	elems[i] = ast.NewTerm(value)
	return ast.NewArray(elems...)
}
