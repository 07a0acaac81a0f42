package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// Reads of the transparency log, for reviewers (action query_decisions, like every read of the
// decision log; each is itself decided and recorded).
const (
	opLogKey         = "log.key"
	opLogCheckpoint  = "log.checkpoint"
	opLogInclusion   = "log.proof.inclusion"
	opLogConsistency = "log.proof.consistency"
	opLogExport      = "log.export"
)

// maxPendingExport bounds the not yet logged records an export carries; a bundle that leaves
// some out says so (its header's PendingTruncated), and verification reports it.
const maxPendingExport = 10000

func (s *Server) logRoutes() {
	s.mux.HandleFunc("GET "+api.PathLogKey, s.handleLogKey)
	s.mux.HandleFunc("GET "+api.PathLogCheckpoint, s.handleLogCheckpoint)
	s.mux.HandleFunc("GET "+api.PathLogInclusion, s.handleLogInclusion)
	s.mux.HandleFunc("GET "+api.PathLogConsistency, s.handleLogConsistency)
	s.mux.HandleFunc("GET "+api.PathLogExport, s.handleLogExport)
}

func (s *Server) handleLogKey(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.gate(w, r, logOp(opLogKey, ""), nil); !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.cfg.LogSigner.VerifierKey()))
}

func (s *Server) handleLogCheckpoint(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.gate(w, r, logOp(opLogCheckpoint, ""), nil); !ok {
		return
	}
	cp, ok := s.latestCheckpoint(w, r.Context())
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, api.LogCheckpoint{Size: cp.Size, Root: cp.Root, Note: cp.Note})
}

// latestCheckpoint reads the newest checkpoint; it answers 404 before the first, 503 when the
// store fails.
func (s *Server) latestCheckpoint(w http.ResponseWriter, ctx context.Context) (store.LogCheckpoint, bool) {
	cp, err := s.cfg.Store.LatestCheckpoint(ctx)
	return s.checkpointFound(w, cp, err, "the log has no checkpoint yet")
}

// checkpointFound answers a failed checkpoint read: 404 with notFound, or 503.
func (s *Server) checkpointFound(w http.ResponseWriter, cp store.LogCheckpoint, err error, notFound string) (store.LogCheckpoint, bool) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, api.Error{Code: access.ErrNotFound, Message: notFound})
		return cp, false
	case err != nil:
		s.logStoreDown(w, "read a checkpoint", err)
		return cp, false
	}
	return cp, true
}

func (s *Server) logStoreDown(w http.ResponseWriter, what string, err error) {
	s.cfg.Logger.Error(what, "err", err)
	writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable"})
}

func (s *Server) handleLogInclusion(w http.ResponseWriter, r *http.Request) {
	c, ok := s.gate(w, r, logOp(opLogInclusion, "", api.QueryID, api.QuerySize), func(c *apiCall) error {
		if c.query.Get(api.QueryID) == "" {
			return badRequest("%s names the record", api.QueryID)
		}
		return nil
	})
	if !ok {
		return
	}
	d, err := s.cfg.Store.GetDecision(r.Context(), c.query.Get(api.QueryID))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "no such record"})
		return
	case err != nil:
		s.logStoreDown(w, "inclusion proof", err)
		return
	case d.LogIndex == nil:
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "the record is not in the log yet; ask again in a few seconds"})
		return
	}
	cp, ok := s.checkpointAsked(w, r.Context(), c.query.Get(api.QuerySize))
	if !ok {
		return
	}
	if *d.LogIndex >= cp.Size {
		writeError(w, api.Error{Code: access.ErrNotFound, Message: "the record is not in that checkpoint"})
		return
	}
	pn, ids, err := translog.InclusionNodes(*d.LogIndex, cp.Size)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	proof, ok := s.buildProof(w, r.Context(), pn, ids)
	if !ok {
		return
	}
	leaf, signed, ok := s.loggedLeaf(w, r.Context(), d)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, api.InclusionProof{ID: d.ID, Index: *d.LogIndex, Size: cp.Size, LeafHash: leaf, Proof: proof, Checkpoint: cp.Note, Signed: signed})
}

// loggedLeaf returns the leaf the tree holds at the record's position, and whether it is the
// record's leaf as signed by the log key (not the unsigned form, nor another record's).
func (s *Server) loggedLeaf(w http.ResponseWriter, ctx context.Context, d store.Decision) ([]byte, bool, bool) {
	var leaf []byte
	err := s.cfg.Store.EachLogLeaf(ctx, *d.LogIndex, *d.LogIndex+1, func(l store.LogLeaf) error { leaf = l.Hash; return nil })
	if err == nil && leaf == nil {
		err = fmt.Errorf("no leaf at position %d", *d.LogIndex)
	}
	if err != nil {
		s.logStoreDown(w, "inclusion proof leaf", err)
		return nil, false, false
	}
	_, signed, err := translog.RecordLeaf(withoutLog(d))
	if err != nil {
		s.logStoreDown(w, "encode record", err)
		return nil, false, false
	}
	return leaf, bytes.Equal(leaf, signed), true
}

// checkpointAsked returns the checkpoint of the size asked for, or the latest when none is.
func (s *Server) checkpointAsked(w http.ResponseWriter, ctx context.Context, size string) (store.LogCheckpoint, bool) {
	if size == "" {
		return s.latestCheckpoint(w, ctx)
	}
	n, err := strconv.ParseUint(size, 10, 64)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: api.QuerySize + " must be a tree size"})
		return store.LogCheckpoint{}, false
	}
	cp, err := s.cfg.Store.Checkpoint(ctx, n)
	return s.checkpointFound(w, cp, err, "no checkpoint of that size")
}

// buildProof reads the nodes a proof needs and builds it.
func (s *Server) buildProof(w http.ResponseWriter, ctx context.Context, pn translog.ProofNodes, ids []translog.Node) ([][]byte, bool) {
	hashes, err := s.cfg.Store.LogNodeHashes(ctx, storeNodes(ids))
	if err != nil {
		s.logStoreDown(w, "proof nodes", err)
		return nil, false
	}
	proof, err := pn.BuildProof(hashes)
	if err != nil {
		s.logStoreDown(w, "build proof", err)
		return nil, false
	}
	return proof, true
}

func (s *Server) handleLogConsistency(w http.ResponseWriter, r *http.Request) {
	var from, to uint64
	_, ok := s.gate(w, r, logOp(opLogConsistency, "", api.QueryFrom, api.QueryTo), func(c *apiCall) error {
		var err1, err2 error
		from, err1 = strconv.ParseUint(c.query.Get(api.QueryFrom), 10, 64)
		to, err2 = strconv.ParseUint(c.query.Get(api.QueryTo), 10, 64)
		if err1 != nil || err2 != nil || from > to {
			return badRequest("%s and %s must be tree sizes, %s at most %s", api.QueryFrom, api.QueryTo, api.QueryFrom, api.QueryTo)
		}
		return nil
	})
	if !ok {
		return
	}
	if _, ok := s.checkpointAsked(w, r.Context(), strconv.FormatUint(to, 10)); !ok {
		return
	}
	pn, ids, err := translog.ConsistencyNodes(from, to)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	proof, ok := s.buildProof(w, r.Context(), pn, ids)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, api.ConsistencyProof{From: from, To: to, Proof: proof})
}

// exportWindow reads ?since and ?until of an export.
func exportWindow(q url.Values) (since, until time.Time, err error) {
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{api.QuerySince, &since}, {api.QueryUntil, &until}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return since, until, badRequest("%s must be an RFC 3339 time", p.name)
			}
		}
	}
	return since, until, nil
}
