package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// checkpointView is the decision log's newest checkpoint as the console verified it.
type checkpointView struct {
	Size     uint64
	Verified bool
	Problem  string
}

// proofView is a record's inclusion proof as the console verified it, for the leaf it
// computed from the record it shows.
type proofView struct {
	Index, Size uint64
	Verified    bool
	// Unsigned: the record is in the tree, but logged as not signed by the log key (written
	// behind the CM's back), as `portcullis logs verify` reports it.
	Unsigned bool
	Problem  string
}

// checkpoint reads the newest checkpoint (an API call, recorded) and verifies its signature
// with the log key; nil when the console has no log key or the log has no checkpoint yet.
func (c *Console) checkpoint(r *http.Request, u user) *checkpointView {
	if c.cfg.LogVerifier == nil {
		return nil
	}
	var cp api.LogCheckpoint
	if e := c.call(r, u, http.MethodGet, api.PathLogCheckpoint, nil, nil, &cp); e != nil {
		if e.status == http.StatusNotFound {
			return nil
		}
		return &checkpointView{Problem: e.err.Message}
	}
	opened, err := c.cfg.LogVerifier.OpenCheckpoint(cp.Note)
	if err != nil {
		return &checkpointView{Problem: err.Error()}
	}
	return &checkpointView{Size: opened.Size, Verified: true}
}

// inclusion reads the inclusion proof of record d, the record shown (an API call, recorded),
// and verifies it against the checkpoint it names, whose signature it verifies, for the leaf
// computed from d: as signed by the log key, else in its unsigned form (Unsigned). The leaf
// hash the server sends is not trusted. nil before the record is logged.
func (c *Console) inclusion(r *http.Request, u user, d store.Decision) *proofView {
	if c.cfg.LogVerifier == nil {
		return nil
	}
	var pr api.InclusionProof
	if e := c.call(r, u, http.MethodGet, api.PathLogInclusion, url.Values{"id": {d.ID}}, nil, &pr); e != nil {
		if e.status == http.StatusNotFound {
			return nil
		}
		return &proofView{Problem: e.err.Message}
	}
	v := &proofView{Index: pr.Index, Size: pr.Size}
	cp, err := c.cfg.LogVerifier.OpenCheckpoint(pr.Checkpoint)
	switch {
	case err != nil:
		v.Problem = err.Error()
		return v
	case cp.Size != pr.Size:
		v.Problem = "the proof names another tree size than its checkpoint"
		return v
	}
	canonical, leaf, err := translog.RecordLeaf(d)
	if err != nil {
		v.Problem = err.Error()
		return v
	}
	switch {
	case translog.VerifyInclusion(pr.Index, pr.Size, leaf, pr.Proof, cp.Root) == nil:
		v.Verified = true
	case translog.VerifyInclusion(pr.Index, pr.Size, translog.UnsignedLeafHash(canonical), pr.Proof, cp.Root) == nil:
		v.Verified, v.Unsigned = true, true
	default:
		v.Problem = fmt.Sprintf("the record shown is not the one the log holds at position %d", pr.Index)
	}
	return v
}

// loggedRecord is a decision record as the API sends it, with its policy input and result as
// sent (decoding them into Go values would re-encode them otherwise than logged).
type loggedRecord struct {
	api.Decision
	Input  json.RawMessage `json:"input"`
	Result json.RawMessage `json:"result"`
}

// storeRecord is the record the API sent (body), as the log encodes it.
func storeRecord(body []byte) (store.Decision, error) {
	var l loggedRecord
	if err := json.Unmarshal(body, &l); err != nil {
		return store.Decision{}, fmt.Errorf("console: decode the record: %w", err)
	}
	a := l.Decision
	d := store.Decision{ID: a.ID, Time: a.Time, Path: a.Path, Subject: a.Subject, HostID: a.HostID, HostName: a.HostName,
		Allow: a.Allow, Reasons: a.Reasons, Input: l.Input, Result: l.Result, Revision: a.Revision, EvalNS: a.Metrics[api.MetricEvalNS],
		Labels: a.Labels, Erased: a.Erased, Masked: a.Masked, RequestedBy: a.RequestedBy, ReqID: a.ReqID}
	if len(a.Bundles) > 0 {
		d.Bundles = make(map[string]string, len(a.Bundles))
		for name, b := range a.Bundles {
			d.Bundles[name] = b.Revision
		}
	}
	for _, raw := range []*json.RawMessage{&d.Input, &d.Result} {
		if string(*raw) == "null" {
			*raw = nil
		}
	}
	return d, nil
}
