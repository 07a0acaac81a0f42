package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// cmDecisionPath is the path of records the CM decided without the policy (an unknown or
// disabled host); `policy impact` never replays them.
const cmDecisionPath = "portcullis/cm"

// Reasons the CM gives when the decision log cannot take a record as the policy asks.
const reasonMaskFailure = "decision-log masking failed (fail closed)"

// requestKey is the context key of the request a decision is made for (requester).
type requestKey struct{}

// requester is what a decision record says of the request that started it (OPA's
// "requested_by" and "req_id").
type requester struct {
	addr string
	id   uint64
}

// numberRequests hands each request h serves a requester: its client's address and the next
// request number of this replica.
func (s *Server) numberRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := requester{addr: r.RemoteAddr, id: s.requests.Add(1)}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, rq)))
	})
}

// logEntry is what one decision-log record is made of.
type logEntry struct {
	// id is the record's id; "" for a new one.
	id       string
	engine   *policy.Engine
	now      time.Time
	path     string
	subject  string
	hostID   string
	hostName string
	input    policy.Input
	result   policy.Result
	// labels are added to the record's labels (e.g. the relay chosen and why).
	labels map[string]string
	// session commits with the record while it allows (an allowed connect's); nil for none.
	session *store.Session
	// mail, the Host's half of an allowed connect, is posted with the record and its session;
	// nil for none.
	mail *store.Mail
}

// commit masks the entry through the policy's data.system.log.mask and commits it to the
// store; nothing may be granted before it returns nil (on error it still returns the record it
// could not commit). When masking fails the record keeps no
// input and refuses, so that an unmaskable request is never allowed.
func (s *Server) commit(ctx context.Context, e logEntry) (store.Decision, error) {
	d, _, err := s.commitPosting(ctx, e)
	return d, err
}

// commitPosting is commit that also tells whether the entry's mail was posted with it: false
// when it has none, when the record refuses, or when the recipient's mailbox was full.
func (s *Server) commitPosting(ctx context.Context, e logEntry) (store.Decision, bool, error) {
	d, err := s.signedRecord(ctx, &e)
	if err != nil {
		return d, false, err
	}
	posted, err := s.insertSigned(ctx, d, e.session, e.mail)
	return d, posted, err // on an error, d for the emergency brake alone (emergency.go)
}

// signedRecord makes the entry's record, masked and signed, ready to insert (insertSigned).
// When masking fails the record refuses, and the entry loses its session and mail.
func (s *Server) signedRecord(ctx context.Context, e *logEntry) (store.Decision, error) {
	input, err := e.inputJSON()
	if err != nil {
		return store.Decision{}, err
	}
	d := store.Decision{
		ID: cmp.Or(e.id, newID("dec")), Time: e.now, Path: e.path, Subject: e.subject, HostID: e.hostID, HostName: e.hostName,
		Allow: e.result.Decision.Allow, Reasons: e.result.Decision.Reasons, Result: e.result.Raw,
		Revision: cmp.Or(e.result.Revision, e.engine.Revision()), EvalNS: e.result.EvalNS,
		Labels: map[string]string{"cm": s.cfg.Instance},
	}
	maps.Copy(d.Labels, e.labels)
	if rq, ok := ctx.Value(requestKey{}).(requester); ok {
		d.RequestedBy, d.ReqID = rq.addr, rq.id
	}
	d.Bundles = map[string]string{policy.BundleName: d.Revision}
	ev, err := e.engine.Mask(ctx, policy.Event{
		DecisionID: d.ID, Path: d.Path, Input: input, Result: e.result.Raw, Timestamp: d.Time, Labels: d.Labels,
		Bundles: map[string]policy.BundleInfo{policy.BundleName: {Revision: d.Revision}}, RequestedBy: d.RequestedBy,
		ReqID: d.ReqID, Metrics: map[string]int64{api.MetricEvalNS: d.EvalNS},
	}.WithValuesOf(e.result))
	if err != nil {
		s.cfg.Logger.Error("mask decision record; refusing", "decision_id", d.ID, "err", err)
		refused := denyResult(reasonMaskFailure)
		d.Allow, d.Reasons, ev = false, refused.Decision.Reasons, policy.Event{Input: json.RawMessage(`{}`), Result: refused.Raw}
		delete(d.Labels, labelOutcome) // nothing is granted
		delete(d.Labels, labelSession)
	}
	d.Input, d.Result, d.Erased, d.Masked = ev.Input, ev.Result, ev.Erased, ev.Masked
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	if err = s.signRecord(&d); err != nil {
		return d, err
	}
	if !d.Allow {
		e.session, e.mail = nil, nil // masking failed and refused: nothing is granted
	}
	return d, nil
}

// insertSigned commits a record signedRecord made, with its session and mail when it has them.
func (s *Server) insertSigned(ctx context.Context, d store.Decision, sess *store.Session, m *store.Mail) (bool, error) {
	posted, err := s.insertRecord(ctx, d, sess, m)
	if err != nil {
		s.signed.forget(d.ID)
		return false, fmt.Errorf("insert decision: %w", err)
	}
	s.unlogged.Store(true)
	return posted, nil
}

// insertRecord commits a record with, when it has them, its session and the Host's mail, in one
// group-committed transaction.
func (s *Server) insertRecord(ctx context.Context, d store.Decision, sess *store.Session, m *store.Mail) (bool, error) {
	if sess == nil || m == nil {
		return false, s.cfg.Store.InsertDecisionAndSession(ctx, d, sess)
	}
	return s.cfg.Store.InsertGrant(ctx, d, *sess, *m)
}

// inputJSON is the entry's policy input as JSON: the document the policy decided on when its
// result carries it (encoded once, by the evaluation), else the input encoded now (a decision
// the CM made without the policy).
func (e *logEntry) inputJSON() (json.RawMessage, error) {
	if len(e.result.Input) > 0 {
		return e.result.Input, nil
	}
	input, err := json.Marshal(e.input)
	if err != nil {
		return nil, fmt.Errorf("encode input: %w", err)
	}
	return input, nil
}

// decisionLogDown logs why a decision record could not be committed and refuses the request.
func (s *Server) decisionLogDown(w http.ResponseWriter, err error) {
	s.cfg.Logger.Error("commit decision record", "err", err)
	writeError(w, api.Error{Code: access.ErrUnavailable, Message: "decision log unavailable; refusing (fail closed)"})
}

// subjectOf describes the signed-in user to the policy.
func subjectOf(c identity.Claims) policy.Subject {
	return policy.Subject{
		ID: c.Subject, Name: c.Name, Email: c.Email, IdP: c.Issuer,
		Groups: c.Groups, AMR: c.AMR, AuthTime: c.AuthTime, EmailVerified: c.EmailVerified, ACR: c.ACR,
	}
}

// handlePolicyStatus tells auditors and administrators which policy decides and how its last
// reload went.
func (s *Server) handlePolicyStatus(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.gate(w, r, logOp(opPolicyStatus, ""), nil); !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Policy.Status())
}
