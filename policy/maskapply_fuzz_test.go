package policy

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// FuzzApplyMask applies a mask operation to arbitrary input documents and pointers: it must
// never panic, always leave valid JSON, never change the value it was given (the one OPA
// decided on), and agree with the same operation done on encoding/json's decoding of the
// document (maps, numbers as written) and encoded again.
func FuzzApplyMask(f *testing.F) {
	for _, s := range []struct{ doc, path, value string }{
		{`{"subject":{"email":"a@example.com","id":"a"}}`, "/input/subject/email", ""},
		{`{"context":{"guest_addr":"192.0.2.7"}}`, "/input/context/guest_addr", `"192.0.2.0/24"`},
		{`{"list":[1,2,3],"n":1.50}`, "/input/list/1", ""},
		{`{"a/b":{"~":true}}`, "/input/a~1b/~0", `{"x":[null]}`},
		{`[1,{"a":2}]`, "/input/1/a", `-0`},
		{`{"big":12345678901234567891}`, "/input/new/deeper", `"<&>"`},
		{`"text"`, "/input/x", `7`},
	} {
		f.Add([]byte(s.doc), s.path, []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string, value []byte) {
		if !json.Valid(doc) || !utf8.Valid(doc) || !decodersAgree(doc) {
			return // the CM's input documents are encoding/json's output
		}
		op := maskOp{Op: maskRemove, Path: path}
		if len(value) > 0 {
			if !json.Valid(value) || !utf8.Valid(value) || !decodersAgree(value) {
				return
			}
			v, err := parseJSON(value)
			if err != nil {
				t.Fatalf("parse the valid value %q: %v", value, err)
			}
			op = maskOp{Op: maskUpsert, Path: path, Value: v}
		}
		known, err := parseJSON(doc)
		if err != nil {
			t.Fatalf("parse the valid document %q: %v", doc, err)
		}
		before := known.String()
		ev := Event{Input: doc, inputValue: known}
		got, err := applyMask(ev, []maskOp{op})
		if known.String() != before {
			t.Fatalf("masking changed the value it was given: %s, was %s", known, before)
		}
		want, wantErr := maskWithMaps(doc, op)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("applyMask(%s, %+v) error %v; on maps %v", doc, op, err, wantErr)
		}
		if err != nil {
			return
		}
		if !json.Valid(got.Input) {
			t.Fatalf("applyMask(%s, %+v) left invalid JSON %q", doc, op, got.Input)
		}
		if !bytes.Equal(got.Input, want) {
			t.Fatalf("applyMask(%s, %+v) = %s; on maps %s", doc, op, got.Input, want)
		}
	})
}

// decodersAgree reports whether encoding/json (numbers kept as written) and OPA's parser read
// the valid JSON raw alike, as they do every document an encoder writes: they part on
// repeated keys, which none writes. The encoders are compared in FuzzResultJSON.
func decodersAgree(raw []byte) bool {
	v, err := parseJSON(raw)
	if err != nil {
		return false
	}
	fromAST, err := resultJSON(ast.NewTerm(v))
	if err != nil {
		return false
	}
	fromMaps, err := mapsJSON(raw)
	return err == nil && bytes.Equal(fromAST, fromMaps)
}

// mapsJSON decodes raw with encoding/json, numbers kept as written, and encodes it again.
func mapsJSON(raw []byte) ([]byte, error) {
	v, err := decodeNumbers(raw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// decodeNumbers decodes raw with encoding/json, numbers as json.Number.
func decodeNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// maskWithMaps applies op to the input document as the mask did before it worked on AST
// values: decoded by encoding/json (numbers kept as written), changed in maps and slices,
// encoded again.
func maskWithMaps(doc []byte, op maskOp) ([]byte, error) {
	parts, err := splitPointer(op.Path)
	if err != nil {
		return nil, err
	}
	if parts[0] != "input" || len(parts) < 2 {
		return nil, ErrMask
	}
	root, err := decodeNumbers(doc)
	if err != nil {
		return nil, err
	}
	docs := map[string]any{"input": root}
	if op.Op == maskUpsert {
		v, err := ast.JSONWithOpt(op.Value, ast.JSONOpt{})
		if err != nil {
			return nil, err
		}
		cur := docs
		for _, k := range parts[:len(parts)-1] {
			next, ok := cur[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[k] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	} else if parent, ok := walkMaps(docs, parts[:len(parts)-1]); ok {
		last := parts[len(parts)-1]
		switch p := parent.(type) {
		case map[string]any:
			delete(p, last)
		case []any:
			if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(p) {
				p[i] = nil
			}
		}
	}
	return json.Marshal(docs["input"])
}

// walkMaps follows parts through decoded objects and arrays.
func walkMaps(doc any, parts []string) (any, bool) {
	for _, k := range parts {
		switch c := doc.(type) {
		case map[string]any:
			next, ok := c[k]
			if !ok {
				return nil, false
			}
			doc = next
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			doc = c[i]
		default:
			return nil, false
		}
	}
	return doc, true
}
