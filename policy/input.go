package policy

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Actions a request may ask the policy about.
const (
	// ActionConnect asks to open a session to a Host.
	ActionConnect = "connect"
	// ActionQueryDecisions asks to read the decision log.
	ActionQueryDecisions = "query_decisions"
	// ActionAdminister asks to manage enrollment tokens, hosts, locks or relays.
	ActionAdminister = "administer"
)

// Input is everything the policy sees about one request; it is marshalled to JSON with
// snake_case names and RFC 3339 times (zero times are omitted), as rego/input.schema.json describes.
type Input struct {
	// Subject is the signed-in user.
	Subject Subject `json:"subject"`
	// Host is the Host asked for; zero for requests that name no host.
	Host Host `json:"host"`
	// Request says what the subject asks for.
	Request Request `json:"request"`
	// Context holds the circumstances of the request.
	Context Context `json:"context"`
}

// Subject is the user behind a request, as the verified ID token describes them.
type Subject struct {
	// ID is the mapped user id, e.g. alice@example.com.
	ID string `json:"id"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// Email is the e-mail address.
	Email string `json:"email,omitempty"`
	// IdP is the issuer URL of the identity provider.
	IdP string `json:"idp,omitempty"`
	// Groups are the identity-provider groups.
	Groups []string `json:"groups"`
	// AMR lists the authentication methods; it contains "mfa" after a multi-factor sign-in.
	AMR []string `json:"amr"`
	// AuthTime is when the user signed in; zero when unknown.
	AuthTime time.Time `json:"auth_time,omitzero"`
	// EmailVerified reports whether the identity provider verified Email.
	EmailVerified bool `json:"email_verified,omitempty"`
	// ACR is the authentication context class the identity provider reported; "" when none.
	ACR string `json:"acr,omitempty"`
}

// Host is the enrolled device a request names.
type Host struct {
	// ID is the Host's id.
	ID string `json:"id,omitempty"`
	// Name is the Host's name, e.g. db-1.
	Name string `json:"name,omitempty"`
	// Tenant is the owning tenant, e.g. acme.
	Tenant string `json:"tenant,omitempty"`
	// OS is the Host's operating system.
	OS string `json:"os,omitempty"`
	// Tags are the enrollment tags, e.g. env=prod.
	Tags map[string]string `json:"tags,omitempty"`
	// Online reports whether the Host is heartbeating.
	Online bool `json:"online"`
	// LastSeen is the last heartbeat; zero when never seen.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Request says what the subject asks for.
type Request struct {
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Channels lists the channel kinds wanted; empty means whatever the policy permits.
	Channels []string `json:"channels,omitempty"`
	// Encryption is the encryption level wanted; empty means the policy's minimum.
	Encryption string `json:"encryption,omitempty"`
	// Operation names the API operation asked about by APIQuery, e.g. "hosts.disable";
	// empty for connect decisions.
	Operation string `json:"operation,omitempty"`
}

// Context holds the circumstances of a request.
type Context struct {
	// Time is when the request arrived; time windows are judged against it.
	Time time.Time `json:"time,omitzero"`
	// GuestAddr is the Guest's address as the CM saw it.
	GuestAddr string `json:"guest_addr,omitempty"`
	// Region is the Guest's region, if known.
	Region string `json:"region,omitempty"`
	// Relays are the healthy relays the CM could use; empty when it picks after the decision.
	Relays []RelayCandidate `json:"relays,omitempty"`
}

// RelayCandidate is a Connection Server the CM could route the session through.
type RelayCandidate struct {
	// ID is the relay's id, e.g. cs-eu-1.
	ID string `json:"id"`
	// Region is where the relay runs, e.g. eu-north.
	Region string `json:"region,omitempty"`
	// Owner is "vendor" or the tenant that runs the relay.
	Owner string `json:"owner"`
	// Private reports a customer-run relay reserved for its owner.
	Private bool `json:"private"`
}

// astValue builds the AST value OPA evaluates, exactly as parsing the Input's JSON encoding
// would (same members, same omissions, RFC 3339 times), without the JSON round trip. Each
// object is built in one ast.NewObject call, which allocates its members in one block, and
// the terms come from slabs (a terms).
func (in Input) astValue() ast.Value {
	t := &terms{}
	return ast.NewObject(
		t.member("subject", in.Subject.astValue(t)),
		t.member("host", in.Host.astValue(t)),
		t.member("request", in.Request.astValue(t)),
		t.member("context", in.Context.astValue(t)),
	)
}

func (s Subject) astValue(t *terms) ast.Value {
	o := object{t: t, kv: make([][2]*ast.Term, 0, 9)}
	o.put("id", t.str(s.ID))
	o.putStrings("name", s.Name, "email", s.Email, "idp", s.IdP)
	o.put("groups", t.strings(s.Groups))
	o.put("amr", t.strings(s.AMR))
	o.putTime("auth_time", s.AuthTime)
	if s.EmailVerified {
		o.put("email_verified", ast.InternedTerm(true))
	}
	o.putString("acr", s.ACR)
	return o.value()
}

func (h Host) astValue(t *terms) ast.Value {
	o := object{t: t, kv: make([][2]*ast.Term, 0, 7)}
	o.putStrings("id", h.ID, "name", h.Name, "tenant", h.Tenant, "os", h.OS)
	o.putStringMap("tags", h.Tags)
	o.put("online", ast.InternedTerm(h.Online))
	o.putTime("last_seen", h.LastSeen)
	return o.value()
}

func (r Request) astValue(t *terms) ast.Value {
	o := object{t: t, kv: make([][2]*ast.Term, 0, 4)}
	o.put("action", t.str(r.Action))
	if len(r.Channels) > 0 {
		o.put("channels", t.strings(r.Channels))
	}
	o.putStrings("encryption", r.Encryption, "operation", r.Operation)
	return o.value()
}

func (c Context) astValue(t *terms) ast.Value {
	o := object{t: t, kv: make([][2]*ast.Term, 0, 4)}
	o.putTime("time", c.Time)
	o.putStrings("guest_addr", c.GuestAddr, "region", c.Region)
	if len(c.Relays) > 0 {
		relays := make([]*ast.Term, 0, len(c.Relays))
		for _, r := range c.Relays {
			ro := object{t: t, kv: make([][2]*ast.Term, 0, 4)}
			ro.put("id", t.str(r.ID))
			ro.putString("region", r.Region)
			ro.put("owner", t.str(r.Owner))
			ro.put("private", ast.InternedTerm(r.Private))
			relays = append(relays, t.term(ro.value()))
		}
		o.put("relays", t.term(ast.NewArray(relays...)))
	}
	return o.value()
}

// terms hands out AST terms from slabs, a few allocations for all the terms of an input
// instead of one each. A slab lives as long as any of its terms.
type terms struct {
	slab []ast.Term
}

// term returns a term of v.
func (t *terms) term(v ast.Value) *ast.Term {
	if len(t.slab) == cap(t.slab) {
		t.slab = make([]ast.Term, 0, 32)
	}
	t.slab = append(t.slab, ast.Term{Value: v})
	return &t.slab[len(t.slab)-1]
}

// str returns a term of the string s.
func (t *terms) str(s string) *ast.Term { return t.term(ast.String(s)) }

// strings is a JSON array of strings; nil encodes as null, as encoding/json does.
func (t *terms) strings(ss []string) *ast.Term {
	if ss == nil {
		return ast.NullTerm()
	}
	elems := make([]*ast.Term, len(ss))
	for i, s := range ss {
		elems[i] = t.str(s)
	}
	return t.term(ast.NewArray(elems...))
}

// member is one key/value pair of an AST object.
func (t *terms) member(key string, v ast.Value) [2]*ast.Term {
	return [2]*ast.Term{keyTerm(key), t.term(v)}
}

// inputKeys are the terms of the input's member names, made once: OPA interns few of them, and
// a term made for each decision costs two allocations. They are never changed, and OPA never
// changes a term it evaluates, so every decision shares them.
var inputKeys = func() map[string]*ast.Term {
	keys := map[string]*ast.Term{}
	for _, k := range []string{"subject", "id", "name", "email", "idp", "groups", "amr", "auth_time", "email_verified", "acr",
		"host", "tenant", "os", "tags", "online", "last_seen", "request", "action", "channels", "encryption", "operation",
		"context", "time", "guest_addr", "region", "relays", "owner", "private"} {
		keys[k] = ast.StringTerm(k)
	}
	return keys
}()

// keyTerm is the term of an input member's name.
func keyTerm(key string) *ast.Term {
	if t, ok := inputKeys[key]; ok {
		return t
	}
	return ast.StringTerm(key)
}

// object collects an AST object's members, to build it with one ast.NewObject call.
type object struct {
	t  *terms
	kv [][2]*ast.Term
}

func (o *object) value() ast.Object { return ast.NewObject(o.kv...) }

// put adds key: v.
func (o *object) put(key string, v *ast.Term) {
	o.kv = append(o.kv, [2]*ast.Term{keyTerm(key), v})
}

// putString adds key: s unless s is empty (the JSON encoding's omitempty).
func (o *object) putString(key, s string) {
	if s != "" {
		o.put(key, o.t.str(s))
	}
}

// putStrings is putString for each key, value pair of kv.
func (o *object) putStrings(kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		o.putString(kv[i], kv[i+1])
	}
}

// putStringMap adds key: m as an object of strings unless m is empty (omitempty).
func (o *object) putStringMap(key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	obj := object{t: o.t, kv: make([][2]*ast.Term, 0, len(m))}
	for k, v := range m {
		obj.kv = append(obj.kv, [2]*ast.Term{o.t.str(k), o.t.str(v)})
	}
	o.put(key, o.t.term(obj.value()))
}

// putTime adds key: t in RFC 3339 (as encoding/json writes it) unless t is zero (omitzero).
func (o *object) putTime(key string, t time.Time) {
	if !t.IsZero() {
		o.put(key, o.t.str(t.Format(time.RFC3339Nano)))
	}
}
