package policy

import (
	"encoding/json"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// asTerm has OPA hand back the result's AST term instead of converting it to Go values first.
var asTerm = rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil })

// resultJSON encodes a result value evaluated with asTerm exactly as encoding/json encodes
// what OPA's Go API returns for it (ast.JSON: objects with their keys sorted, arrays in order,
// sets as arrays), writing the common values directly from the AST.
func resultJSON(value any) ([]byte, error) {
	t, ok := value.(*ast.Term)
	if !ok {
		return json.Marshal(value)
	}
	if raw, ok := appendJSON(make([]byte, 0, 512), t.Value); ok {
		return raw, nil
	}
	v, err := ast.JSONWithOpt(t.Value, ast.JSONOpt{})
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// appendJSON appends v as encoding/json would write ast.JSON(v); false for what it leaves to
// that slower path: sets, objects with keys other than strings, numbers other than integers.
func appendJSON(buf []byte, v ast.Value) ([]byte, bool) {
	switch v := v.(type) {
	case ast.Null:
		return append(buf, "null"...), true
	case ast.Boolean:
		return strconv.AppendBool(buf, bool(v)), true
	case ast.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
			return buf, false
		}
		return append(buf, v...), true
	case ast.String:
		return appendString(buf, string(v)), true
	case *ast.Array:
		buf = append(buf, '[')
		for i := range v.Len() {
			if i > 0 {
				buf = append(buf, ',')
			}
			var ok bool
			if buf, ok = appendJSON(buf, v.Elem(i).Value); !ok {
				return buf, false
			}
		}
		return append(buf, ']'), true
	case ast.Object:
		buf = append(buf, '{')
		for i, k := range v.Keys() { // sorted: for string keys, in encoding/json's order
			key, ok := k.Value.(ast.String)
			if !ok {
				return buf, false
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(appendString(buf, string(key)), ':')
			if buf, ok = appendJSON(buf, v.Get(k).Value); !ok {
				return buf, false
			}
		}
		return append(buf, '}'), true
	}
	return buf, false
}

// appendString appends s as encoding/json quotes it (with its HTML escaping).
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(buf, quoted...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
