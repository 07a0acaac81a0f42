package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// The admin and auditor API's gate. Every call of that API passes through gate, which takes
// these steps in this order, so that no handler can skip or reorder one:
//
//  1. Authenticate (the ID token and the key-bound client certificate). A caller who is not
//     signed in gets 401 before anything is parsed or looked up, so the answer is the same
//     whatever the call names. It is not recorded in the decision log, which records decisions
//     about a subject: an unauthenticated caller has none, and would otherwise grow the
//     evidence log at will. The CM's log has it (operation, target, remote address).
//  2. Parse the query (a parameter the operation does not take, or one given twice, is
//     refused with the list of those it takes) and the body: a bad request is answered 400
//     and recorded as a refusal.
//  3. Look up, quietly, what the policy needs to see (the target Host); whether it exists is
//     not told yet.
//  4. Authorize: the policy decides and the decision is recorded, allowed or not; a refusal
//     is answered 403 whether the target exists or not.
//  5. Only an authorized caller learns that the target does not exist (404).
//
// Every record the gate commits says what was asked: the operation, the target and the query,
// in its labels (operation, target, query; refusal for the CM's own refusals).

// Labels of the decision records of API calls.
const (
	labelOperation = "operation"
	labelTarget    = "target"
	labelQuery     = "query"
	// labelRefusal is the refusal code of a call the CM refused before the policy decided;
	// `policy impact` skips a record that has it.
	labelRefusal = policy.LabelRefusal
	// maxLabelBytes bounds a label the caller wrote (target, query) in a record.
	maxLabelBytes = 512
)

// apiOp is one operation of the admin and auditor API.
type apiOp struct {
	// name is the operation, e.g. "hosts.disable"; the CM's refusals are recorded under
	// portcullis/api/<name>.
	name string
	// action is the policy action that decides it: policy.ActionAdminister is decided by
	// data.portcullis.api and recorded under portcullis/api/<name>; policy.ActionQueryDecisions
	// by data.portcullis.authz and recorded under portcullis/authz/decision.
	action string
	// target is the path wildcard naming what the call acts on, or "".
	target string
	// params are the query parameters the operation takes; any other is refused.
	params []string
}

// adminOp is an operation data.portcullis.api decides.
func adminOp(name, target string, params ...string) apiOp {
	return apiOp{name: name, action: policy.ActionAdminister, target: target, params: params}
}

// logOp is an operation on the decision log, which data.portcullis.authz decides (action
// query_decisions).
func logOp(name, target string, params ...string) apiOp {
	return apiOp{name: name, action: policy.ActionQueryDecisions, target: target, params: params}
}

// apiCall is one call on its way through the gate.
type apiCall struct {
	op     apiOp
	claims identity.Claims
	// target is the path's target as asked (a host name or id, a lock, session or record id),
	// or what a body names (a lock's target).
	target string
	// query is the parsed query; rawQuery is what the record shows of it.
	query    url.Values
	rawQuery string
	// host is the Host the policy sees: the target Host (only its name when it does not
	// exist), or the scope of an enrollment token.
	host store.Host
	// missing is the 404 message an authorized caller gets when the target does not exist.
	missing string
	// own marks a read of the caller's own decision record, which everyone may make: no
	// decision is needed, and none is recorded.
	own bool
	// decisionID is the id of the record of the allowing decision; "" when own.
	decisionID string
}

// requestError is a bad request found while preparing a call: answered 400 and recorded.
type requestError string

func (e requestError) Error() string { return string(e) }

// badRequest makes a requestError.
func badRequest(format string, args ...any) error { return requestError(fmt.Sprintf(format, args...)) }

// gate authenticates, parses, looks up and authorizes one API call, in that order (see the
// top of this file). prepare, which may be nil, reads the body and the query into the handler's
// variables and looks up what the policy must see; it returns a requestError for a bad request
// and any other error for a store that failed. gate has answered when it returns false.
func (s *Server) gate(w http.ResponseWriter, r *http.Request, op apiOp, prepare func(*apiCall) error) (*apiCall, bool) {
	c := &apiCall{op: op, rawQuery: r.URL.RawQuery}
	if op.target != "" {
		c.target = r.PathValue(op.target)
	}
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		s.cfg.Logger.Info("refused an unauthenticated API call", "op", op.name, "target", bounded(c.target), "remote", r.RemoteAddr)
		return nil, false
	}
	c.claims = claims
	err := c.parseQuery(r)
	if err == nil && prepare != nil {
		err = prepare(c)
	}
	var bad requestError
	switch {
	case errors.As(err, &bad):
		s.refuseCall(w, r, c, access.ErrBadRequest, string(bad))
		return nil, false
	case err != nil:
		s.cfg.Logger.Error("prepare API call", "op", op.name, "err", err)
		s.refuseCall(w, r, c, access.ErrUnavailable, "store unavailable; refusing (fail closed)")
		return nil, false
	case c.own:
		return c, true
	}
	d, err := s.decideCall(r, c)
	switch {
	case err != nil && op.name == opCreateLock && d.Allow && s.pending.addDecision(d):
		// The emergency brake (emergency.go): a lock only takes access away, so an allowed
		// one acts now and its decision is recorded when the store is back.
		s.cfg.Logger.Warn("lock allowed before its decision is recorded", "decision_id", d.ID, "err", err)
		c.decisionID = d.ID
		return c, true
	case err != nil:
		s.decisionLogDown(w, err)
		return nil, false
	case !d.Allow && op.action == policy.ActionAdminister:
		writeError(w, api.Error{Code: access.ErrForbidden, Message: "refused by policy", Reasons: d.Reasons, DecisionID: d.ID})
		return nil, false
	case !d.Allow:
		writeError(w, api.Error{Code: access.ErrDenied, Message: "denied by policy", Reasons: d.Reasons, DecisionID: d.ID})
		return nil, false
	case c.missing != "":
		writeError(w, api.Error{Code: access.ErrNotFound, Message: c.missing, DecisionID: d.ID})
		return nil, false
	}
	c.decisionID = d.ID
	return c, true
}

// parseQuery parses the call's query (parseParams).
func (c *apiCall) parseQuery(r *http.Request) error {
	q, err := parseParams(r, c.op.params...)
	if err == nil {
		c.query, c.rawQuery = q, q.Encode()
	}
	return err
}

// parseParams parses the request's query, refusing with a requestError a parameter that is not
// one of params (naming those the endpoint takes) or one given more than once.
func parseParams(r *http.Request, params ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query: %v", err)
	}
	var unknown []string
	for name, vs := range q {
		switch {
		case !slices.Contains(params, name):
			unknown = append(unknown, strconv.Quote(name))
		case len(vs) > 1:
			return nil, badRequest("query parameter %s is given %d times; give it once", name, len(vs))
		}
	}
	if len(unknown) == 0 {
		return q, nil
	}
	slices.Sort(unknown)
	takes := "takes no query parameters"
	if len(params) > 0 {
		takes = "takes only " + strings.Join(params, ", ")
	}
	return nil, badRequest("unknown query parameter %s: %s %s", strings.Join(unknown, ", "), r.Pattern, takes)
}

// input is what the policy sees of the call, and what a refusal's record says was asked.
func (c *apiCall) input(r *http.Request, now time.Time) policy.Input {
	in := policy.Input{
		Subject: subjectOf(c.claims),
		Request: policy.Request{Action: c.op.action, Operation: c.op.name},
		Context: policy.Context{Time: now, GuestAddr: remoteIP(r)},
	}
	if h := c.host; h.ID != "" || h.Name != "" || h.Tenant != "" || len(h.Tags) > 0 {
		in.Host = policy.Host{ID: h.ID, Name: h.Name, Tenant: h.Tenant, OS: h.OS, Tags: h.Tags}
	}
	return in
}

// labels say what was asked: the operation, the target and the query.
func (c *apiCall) labels() map[string]string {
	l := map[string]string{labelOperation: c.op.name}
	if c.target != "" {
		l[labelTarget] = bounded(c.target)
	}
	if c.rawQuery != "" {
		l[labelQuery] = bounded(c.rawQuery)
	}
	return l
}

// decideCall asks the policy whether the caller may make the call and commits the decision
// record, allowed or not; a policy failure is recorded as a refusal (fail closed).
func (s *Server) decideCall(r *http.Request, c *apiCall) (store.Decision, error) {
	now := s.cfg.Now()
	in := c.input(r, now)
	engine := s.cfg.Policy.Current()
	path := apiPathPrefix + c.op.name
	var res policy.Result
	var err error
	if c.op.action == policy.ActionAdminister {
		res, err = engine.DecideAPI(r.Context(), in)
	} else {
		res, err = engine.Decide(r.Context(), in)
		path = policy.DecisionPath
	}
	if err != nil {
		s.cfg.Logger.Error("API policy evaluation", "op", c.op.name, "err", err)
		res = denyResult(reasonPolicyFailure)
	}
	return s.commit(r.Context(), logEntry{
		engine: engine, now: now, path: path, subject: c.claims.Subject,
		hostID: c.host.ID, hostName: c.host.Name, input: in, result: res, labels: c.labels(),
	})
}

// refuseCall records the CM's own refusal of an authenticated call under
// portcullis/api/<operation> (never replayed by `policy impact`: the policy did not decide it)
// and answers it with code and msg.
func (s *Server) refuseCall(w http.ResponseWriter, r *http.Request, c *apiCall, code access.Code, msg string) {
	now := s.cfg.Now()
	labels := c.labels()
	labels[labelRefusal] = string(code)
	d, err := s.commit(r.Context(), logEntry{
		engine: s.cfg.Policy.Current(), now: now, path: apiPathPrefix + c.op.name, subject: c.claims.Subject,
		hostID: c.host.ID, hostName: c.host.Name, input: c.input(r, now), result: denyResult(msg), labels: labels,
	})
	if err != nil {
		s.decisionLogDown(w, err)
		return
	}
	writeError(w, api.Error{Code: code, Message: msg, DecisionID: d.ID})
}

// bounded is s as a record or a log may keep it: valid UTF-8 and at most maxLabelBytes.
func bounded(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxLabelBytes {
		return s
	}
	cut := maxLabelBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
