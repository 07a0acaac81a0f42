package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// handleLogExport streams an export bundle (translog.BundleLine, NDJSON) of the records
// decided in [since, until): the latest checkpoint, every leaf of the tree, the logged records
// of the window, the records just outside a time window that prove its bounds, and the
// window's records not logged yet. It is a snapshot as of the latest checkpoint, read after
// the records not logged: each record of the window is in one part or the other.
func (s *Server) handleLogExport(w http.ResponseWriter, r *http.Request) {
	var since, until time.Time
	_, ok := s.gate(w, r, logOp(opLogExport, "", api.QuerySince, api.QueryUntil), func(c *apiCall) (err error) {
		since, until, err = exportWindow(c.query)
		return err
	})
	if !ok {
		return
	}
	ctx := r.Context()
	e, err := s.cfg.Store.LogExportSnapshot(ctx, since, until, maxPendingExport)
	if errors.Is(err, store.ErrNotFound) {
		s.checkpointFound(w, store.LogCheckpoint{}, err, "the log has no checkpoint yet")
		return
	}
	if err != nil {
		s.logStoreDown(w, "export", err)
		return
	}
	if e.PendingTruncated {
		s.cfg.Logger.Warn("export the decision log: records not logged yet left out", "limit", maxPendingExport)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := translog.NewBundleWriter(w)
	if err := s.writeBundle(ctx, bw, e, since, until); err != nil {
		s.cfg.Logger.Error("export the decision log", "err", err) // the bundle ends short: verify says so
		return
	}
	if err := bw.Flush(); err != nil {
		s.cfg.Logger.Warn("export the decision log", "err", err)
	}
}

// writeBundle writes the bundle's lines in order.
func (s *Server) writeBundle(ctx context.Context, bw *translog.BundleWriter, e store.LogExport, since, until time.Time) error {
	cp, from, to := e.Checkpoint, e.From, e.To
	hdr := translog.BundleHeader{Origin: s.cfg.LogSigner.Origin(), Size: cp.Size, From: from, To: to, Since: since, Until: until,
		PendingTruncated: e.PendingTruncated}
	if err := bw.Write(translog.BundleLine{Header: &hdr}); err != nil {
		return err
	}
	if err := bw.Write(translog.BundleLine{Checkpoint: cp.Note}); err != nil {
		return err
	}
	err := s.cfg.Store.EachLogLeaf(ctx, 0, cp.Size, func(l store.LogLeaf) error {
		return bw.Write(translog.BundleLine{Leaf: &translog.BundleLeaf{Index: l.Index, ID: l.DecisionID, Hash: l.Hash}})
	})
	if err != nil {
		return err
	}
	err = s.cfg.Store.EachLoggedDecision(ctx, from, to, func(d store.Decision) error {
		return bw.Write(translog.BundleLine{Record: bundleRecord(d)})
	})
	if err != nil {
		return err
	}
	if !since.IsZero() || !until.IsZero() {
		// The window's bounds: the records just before and just after it, when the log has them.
		bound := func(d store.Decision) error { return bw.Write(translog.BundleLine{Bound: bundleRecord(d)}) }
		if from > 0 {
			if err := s.cfg.Store.EachLoggedDecision(ctx, from-1, from, bound); err != nil {
				return err
			}
		}
		if err := s.cfg.Store.EachLoggedDecision(ctx, to, min(to+1, cp.Size), bound); err != nil {
			return err
		}
	}
	for _, d := range e.Pending {
		if err := bw.Write(translog.BundleLine{Record: &translog.BundleRecord{Signature: d.LogSig, Decision: withoutLog(d)}}); err != nil {
			return err
		}
	}
	return nil
}

// bundleRecord is a logged record as a bundle carries it.
func bundleRecord(d store.Decision) *translog.BundleRecord {
	return &translog.BundleRecord{Index: d.LogIndex, Signature: d.LogSig, Decision: withoutLog(d)}
}

// withoutLog is the record without its log fields, which the bundle line carries apart.
func withoutLog(d store.Decision) store.Decision {
	d.LogSig, d.LogMAC, d.LogIndex = nil, nil, nil
	return d
}
