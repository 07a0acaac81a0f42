package policy

import (
	"strconv"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/portcullis/portcullis/access"
)

// decodeDecisionValue reads a decision document straight from the AST value OPA returned,
// for the shapes a policy normally returns: an object whose "allow" is a boolean, whose
// "reasons" are strings and whose "obligations" are an object with only the known obligation
// fields, each of its type. It decides exactly as decodeDecision does on the JSON of v, and
// returns false for anything else (null members, wrong types, keys in another case, numbers
// that are not integers, strings that are not UTF-8, which encoding/json would alter), which the caller then decodes with decodeDecision.
func decodeDecisionValue(value any) (Decision, bool) {
	t, ok := value.(*ast.Term)
	if !ok {
		return Decision{}, false
	}
	doc, ok := t.Value.(ast.Object)
	if !ok {
		return Decision{}, false
	}
	var d Decision
	allow, ok := member(doc, "allow").(ast.Boolean)
	if !ok {
		return Decision{}, false
	}
	d.Allow = bool(allow)
	if r := member(doc, "reasons"); r != nil {
		if d.Reasons, ok = stringList(r); !ok {
			return Decision{}, false
		}
	}
	if o := member(doc, "obligations"); o != nil {
		if d.Obligations, ok = obligationsValue(o); !ok {
			return Decision{}, false
		}
	}
	if !d.Allow {
		d.Obligations = access.Obligations{}
		if len(d.Reasons) == 0 {
			d.Reasons = []string{ReasonUnexplained}
		}
	}
	return d, true
}

// member is o's member key, nil when o has none.
func member(o ast.Object, key string) ast.Value {
	if t := o.Get(ast.InternedTerm(key)); t != nil {
		return t.Value
	}
	return nil
}

// obligationsValue reads an obligations object whose members all have their exact field name
// and type; false otherwise.
func obligationsValue(v ast.Value) (access.Obligations, bool) {
	var o access.Obligations
	obj, ok := v.(ast.Object)
	if !ok {
		return o, false
	}
	for _, k := range obj.Keys() {
		key, ok := k.Value.(ast.String)
		if !ok {
			return o, false
		}
		if !setObligation(&o, string(key), obj.Get(k).Value) {
			return o, false
		}
	}
	return o, true
}

// stringList reads an array of strings as encoding/json would into a []string (never nil).
func stringList(v ast.Value) ([]string, bool) {
	a, ok := v.(*ast.Array)
	if !ok {
		return nil, false
	}
	out := make([]string, a.Len())
	for i := range out {
		s, ok := a.Elem(i).Value.(ast.String)
		if !ok || !utf8.ValidString(string(s)) {
			return nil, false
		}
		out[i] = string(s)
	}
	return out, true
}

// setObligation sets the obligation field named key from v; false for another name or a value
// of another type.
func setObligation(o *access.Obligations, key string, v ast.Value) (ok bool) {
	switch key {
	case "max_duration_seconds":
		n, isNumber := v.(ast.Number)
		i, err := strconv.ParseInt(string(n), 10, 64)
		o.MaxDurationSeconds = i
		return isNumber && err == nil && i >= 0 // a negative one is decodeDecision's to refuse
	case "min_encryption":
		var s ast.String
		s, ok = v.(ast.String)
		o.MinEncryption = string(s)
		ok = ok && utf8.ValidString(o.MinEncryption)
	case "channels":
		o.Channels, ok = stringList(v)
	case "forward_targets":
		o.ForwardTargets, ok = stringList(v)
	case "relay_regions":
		o.RelayRegions, ok = stringList(v)
	case "require_confirm":
		var b ast.Boolean
		b, ok = v.(ast.Boolean)
		o.RequireConfirm = bool(b)
	case "private_relays_only":
		var b ast.Boolean
		b, ok = v.(ast.Boolean)
		o.PrivateRelaysOnly = bool(b)
	}
	return ok
}
