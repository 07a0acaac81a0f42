package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// WithValuesOf returns ev carrying the input and decision of r as OPA held them when it
// decided, so that Mask hands them to the mask rule without parsing ev.Input and ev.Result;
// each only where ev holds exactly r's bytes. Mask gives the same record either way.
func (ev Event) WithValuesOf(r Result) Event {
	if r.inputValue != nil && bytes.Equal(ev.Input, r.Input) {
		ev.inputValue = r.inputValue
	}
	if r.rawValue != nil && bytes.Equal(ev.Result, r.Raw) {
		ev.resultValue = r.rawValue
	}
	return ev
}

// value is ev as the mask rule's input: the AST value of ev's JSON (Erased and Masked left
// out), built member by member where every string is valid UTF-8, and through JSON otherwise
// (encoding/json replaces invalid bytes, as the record stored will have them).
func (ev Event) value() (ast.Value, error) {
	ev.Erased, ev.Masked = nil, nil
	if !ev.validUTF8() {
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		return parseInput(raw)
	}
	input, err := documentValue(ev.Input, ev.inputValue)
	if err != nil {
		return nil, err
	}
	stamp, err := ev.Timestamp.MarshalJSON()
	if err != nil {
		return nil, err
	}
	kv := [][2]*ast.Term{
		kvTerm("decision_id", ast.String(ev.DecisionID)),
		kvTerm("path", ast.String(ev.Path)),
		kvTerm("input", input),
		kvTerm("timestamp", ast.String(stamp[1:len(stamp)-1])),
	}
	if len(ev.Result) > 0 {
		result, err := documentValue(ev.Result, ev.resultValue)
		if err != nil {
			return nil, err
		}
		kv = append(kv, kvTerm("result", result))
	}
	if len(ev.Labels) > 0 {
		kv = append(kv, kvTerm("labels", stringMap(ev.Labels)))
	}
	if len(ev.Bundles) > 0 {
		bundles := make([][2]*ast.Term, 0, len(ev.Bundles))
		for name, b := range ev.Bundles {
			bundles = append(bundles, kvTerm(name, ast.NewObject(kvTerm("revision", ast.String(b.Revision)))))
		}
		kv = append(kv, kvTerm("bundles", ast.NewObject(bundles...)))
	}
	if ev.RequestedBy != "" {
		kv = append(kv, kvTerm("requested_by", ast.String(ev.RequestedBy)))
	}
	if ev.ReqID != 0 {
		kv = append(kv, kvTerm("req_id", ast.Number(strconv.FormatUint(ev.ReqID, 10))))
	}
	if len(ev.Metrics) > 0 {
		metrics := make([][2]*ast.Term, 0, len(ev.Metrics))
		for name, n := range ev.Metrics {
			metrics = append(metrics, kvTerm(name, ast.Number(strconv.FormatInt(n, 10))))
		}
		kv = append(kv, kvTerm("metrics", ast.NewObject(metrics...)))
	}
	return ast.NewObject(kv...), nil
}

// documentValue is raw as an AST value: known when OPA held it, else parsed; null when raw is
// empty, as encoding/json writes an empty json.RawMessage.
func documentValue(raw json.RawMessage, known ast.Value) (ast.Value, error) {
	switch {
	case known != nil:
		return known, nil
	case len(raw) == 0:
		return ast.Null{}, nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%w: not valid JSON", ErrInvalidInput)
	}
	return ast.ValueFromReader(bytes.NewReader(raw))
}

// validUTF8 reports whether every string of ev outside Input and Result is valid UTF-8.
func (ev Event) validUTF8() bool {
	ss := []string{ev.DecisionID, ev.Path, ev.RequestedBy}
	for k, v := range ev.Labels {
		ss = append(ss, k, v)
	}
	for k, b := range ev.Bundles {
		ss = append(ss, k, b.Revision)
	}
	for k := range ev.Metrics {
		ss = append(ss, k)
	}
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// kvTerm is the object member key: v.
func kvTerm(key string, v ast.Value) [2]*ast.Term {
	return [2]*ast.Term{ast.StringTerm(key), ast.NewTerm(v)}
}

// stringMap is m as an object of strings.
func stringMap(m map[string]string) ast.Object {
	kv := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		kv = append(kv, kvTerm(k, ast.String(v)))
	}
	return ast.NewObject(kv...)
}
