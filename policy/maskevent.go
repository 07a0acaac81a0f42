package policy

import (
	"bytes"
	"encoding/json"
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
// out), built member by member as Input.astValue builds the input where every string is valid
// UTF-8, and through JSON otherwise (encoding/json replaces invalid bytes, as the record stored
// will have them).
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
	stamp, err := ev.Timestamp.MarshalJSON() // refuses the years JSON cannot hold, as json.Marshal does
	if err != nil {
		return nil, err
	}
	t := &terms{}
	o := object{t: t, kv: make([][2]*ast.Term, 0, 9)}
	o.put("decision_id", t.str(ev.DecisionID))
	o.put("path", t.str(ev.Path))
	o.put("input", t.term(input))
	o.put("timestamp", t.str(string(stamp[1:len(stamp)-1])))
	if len(ev.Result) > 0 {
		result, err := documentValue(ev.Result, ev.resultValue)
		if err != nil {
			return nil, err
		}
		o.put("result", t.term(result))
	}
	o.putStringMap("labels", ev.Labels)
	if len(ev.Bundles) > 0 {
		bundles := object{t: t}
		for name, b := range ev.Bundles {
			bundles.put(name, t.term(ast.NewObject(t.member("revision", ast.String(b.Revision)))))
		}
		o.put("bundles", t.term(bundles.value()))
	}
	o.putString("requested_by", ev.RequestedBy)
	if ev.ReqID != 0 {
		o.put("req_id", t.term(ast.Number(strconv.FormatUint(ev.ReqID, 10))))
	}
	if len(ev.Metrics) > 0 {
		metrics := object{t: t}
		for name, n := range ev.Metrics {
			metrics.put(name, t.term(ast.Number(strconv.FormatInt(n, 10))))
		}
		o.put("metrics", t.term(metrics.value()))
	}
	return o.value(), nil
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
	return parseJSON(raw)
}

// validUTF8 reports whether every string of ev outside Input and Result is valid UTF-8.
func (ev Event) validUTF8() bool {
	if !utf8.ValidString(ev.DecisionID) || !utf8.ValidString(ev.Path) || !utf8.ValidString(ev.RequestedBy) {
		return false
	}
	for k, v := range ev.Labels {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	for k, b := range ev.Bundles {
		if !utf8.ValidString(k) || !utf8.ValidString(b.Revision) {
			return false
		}
	}
	for k := range ev.Metrics {
		if !utf8.ValidString(k) {
			return false
		}
	}
	return true
}
