package console

import (
	"net/http"
	"net/url"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/translog"
)

// checkpointView is the decision log's newest checkpoint as the console verified it.
type checkpointView struct {
	Size     uint64
	Verified bool
	Problem  string
}

// proofView is a record's inclusion proof as the console verified it.
type proofView struct {
	Index, Size uint64
	Verified    bool
	Problem     string
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

// inclusion reads the inclusion proof of record id (an API call, recorded) and verifies it
// against the checkpoint it names, whose signature it verifies; nil before the record is logged.
func (c *Console) inclusion(r *http.Request, u user, id string) *proofView {
	if c.cfg.LogVerifier == nil {
		return nil
	}
	var pr api.InclusionProof
	if e := c.call(r, u, http.MethodGet, api.PathLogInclusion, url.Values{"id": {id}}, nil, &pr); e != nil {
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
	case cp.Size != pr.Size:
		v.Problem = "the proof names another tree size than its checkpoint"
	default:
		if err := translog.VerifyInclusion(pr.Index, pr.Size, pr.LeafHash, pr.Proof, cp.Root); err != nil {
			v.Problem = err.Error()
		} else {
			v.Verified = true
		}
	}
	return v
}
