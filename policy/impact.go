package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// DecisionPath is the path decision-log records of policy decisions carry (OPA's
// "portcullis/authz/decision" for data.portcullis.authz.decision). Records the CM made without
// the policy (unknown or disabled host) carry another path and are never replayed.
const DecisionPath = "portcullis/authz/decision"

// APIDecisionPathPrefix prefixes the path of every decision-log record of an API decision
// (data.portcullis.api.decision): "portcullis/api/<operation>", e.g. portcullis/api/hosts.disable.
const APIDecisionPathPrefix = "portcullis/api/"

// APIDecisionPath is the decision-log path of a decision on the API operation op.
func APIDecisionPath(op string) string { return APIDecisionPathPrefix + op }

// LabelRefusal is the decision-log label of a record of the CM's own refusal: a request it
// refused before the policy was asked (e.g. "bad_request" for a malformed API call), recorded
// under the path of the operation refused though no policy decided it. Impact never replays it.
const LabelRefusal = "refusal"

// Kinds of change Impact reports.
const (
	ChangeAllowToDeny = "allow_to_deny"
	ChangeDenyToAllow = "deny_to_allow"
	ChangeObligations = "obligations"
)

// Recorded is a past decision to replay: its id, what it was about, its input and its result.
type Recorded struct {
	ID      string
	Time    time.Time
	Subject string
	Host    string
	Path    string
	// Allow is the recorded outcome; Result, when it is a decision document, gives its obligations.
	Allow  bool
	Result json.RawMessage
	Input  json.RawMessage
	// Refusal is the record's LabelRefusal, the code of the CM's own refusal, or "" for a
	// decision of the policy. Impact skips a record that has one.
	Refusal string
}

// Change is a recorded decision the candidate decides differently.
type Change struct {
	Recorded Recorded
	// Kind is ChangeAllowToDeny, ChangeDenyToAllow or ChangeObligations.
	Kind string
	// Before is the recorded decision, After the candidate's.
	Before, After Decision
}

// ImpactReport is what Impact found.
type ImpactReport struct {
	// Replayed counts the records the candidate decided again.
	Replayed int
	// ReplayedByPath counts Replayed by the records' Path.
	ReplayedByPath map[string]int
	// Skipped counts records that were not policy decisions (another Path, or the CM's own
	// refusals) or had no input.
	Skipped int
	// SkippedRefusals counts the records of Skipped that were the CM's own refusals (Refusal
	// set), recorded under a policy path though the policy did not decide them.
	SkippedRefusals int
	// Changes lists every replayed decision the candidate changes, in the order read.
	Changes []Change
	// Counts counts Changes by Kind.
	Counts map[string]int
}

// Impact replays the recorded inputs of past policy decisions against candidate and reports
// every decision it would change: allowed ones it denies, denied ones it allows, and allowed
// ones whose obligations differ. Reasons alone do not count as a change. Every path the
// candidate decides is replayed: DecisionPath records with its decision query, and
// APIDecisionPath records with its API query (see replayer). The CM's own refusals (Refusal
// set) are skipped whatever their path: the policy did not decide them, so the candidate has
// nothing to change. Inputs are replayed as recorded, that is after masking: a candidate that
// reads a masked field sees the mask.
func Impact(ctx context.Context, candidate *Engine, records iter.Seq2[Recorded, error]) (ImpactReport, error) {
	rep := ImpactReport{ReplayedByPath: map[string]int{}, Counts: map[string]int{}}
	for rec, err := range records {
		if err != nil {
			return rep, fmt.Errorf("policy: read recorded decisions: %w", err)
		}
		if rec.Refusal != "" {
			rep.Skipped++
			rep.SkippedRefusals++
			continue
		}
		replay := replayer(candidate, rec.Path)
		if replay == nil || len(rec.Input) == 0 {
			rep.Skipped++
			continue
		}
		after, err := replay(ctx, rec.Input)
		if err != nil && !errors.Is(err, ErrEvaluation) && !errors.Is(err, ErrMalformedDecision) {
			return rep, fmt.Errorf("policy: replay %s: %w", rec.ID, err)
		}
		rep.Replayed++
		rep.ReplayedByPath[rec.Path]++
		if c, changed := compare(rec, after.Decision); changed {
			rep.Changes = append(rep.Changes, c)
			rep.Counts[c.Kind]++
		}
	}
	return rep, nil
}

// replayer returns how candidate decides a record of path again, or nil when the policy did
// not make it (the CM's decisions without the policy, at another path). An API record is replayed with the operation its path
// names, as the CM asked: request.operation is set to it, whatever the recorded input says.
func replayer(candidate *Engine, path string) func(context.Context, json.RawMessage) (Result, error) {
	if path == DecisionPath {
		return candidate.DecideJSON
	}
	op, ok := strings.CutPrefix(path, APIDecisionPathPrefix)
	if !ok || op == "" {
		return nil
	}
	return func(ctx context.Context, input json.RawMessage) (Result, error) {
		in, err := withOperation(input, op)
		if err != nil {
			return Result{Decision: refusal(ReasonInvalidInput), Revision: candidate.revision, Input: input}, err
		}
		return candidate.DecideAPIJSON(ctx, in)
	}
}

// withOperation returns the input object with request.operation set to op.
func withOperation(input json.RawMessage, op string) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(input, &doc); err != nil || doc == nil {
		return nil, fmt.Errorf("%w: want a JSON object", ErrInvalidInput)
	}
	var req map[string]json.RawMessage
	if raw, ok := doc["request"]; ok {
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, fmt.Errorf("%w: request: %w", ErrInvalidInput, err)
		}
	}
	if req == nil {
		req = map[string]json.RawMessage{}
	}
	var err error
	if req["operation"], err = json.Marshal(op); err != nil {
		return nil, err
	}
	if doc["request"], err = json.Marshal(req); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// compare tells whether after changes the recorded decision, and how.
func compare(rec Recorded, after Decision) (Change, bool) {
	before, err := decodeDecision(rec.Result)
	if err != nil {
		before = Decision{Allow: rec.Allow}
	}
	before.Allow = rec.Allow
	c := Change{Recorded: rec, Before: before, After: after}
	switch {
	case before.Allow && !after.Allow:
		c.Kind = ChangeAllowToDeny
	case !before.Allow && after.Allow:
		c.Kind = ChangeDenyToAllow
	case before.Allow && !before.Obligations.Equal(after.Obligations):
		c.Kind = ChangeObligations
	default:
		return c, false
	}
	return c, true
}
