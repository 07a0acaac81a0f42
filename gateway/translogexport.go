package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// handleLogExport streams an export bundle (translog.BundleLine, NDJSON) of the records
// decided in [since, until): the latest checkpoint and those within the window, every leaf of
// the tree, the logged records of the window, and the window's records not logged yet. It is
// a snapshot as of the latest checkpoint; records logged after it are left out.
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
	cp, ok := s.latestCheckpoint(w, ctx)
	if !ok {
		return
	}
	from, to, err := s.cfg.Store.LogRange(ctx, since, until)
	if err != nil {
		s.logStoreDown(w, "export range", err)
		return
	}
	from, to = min(from, cp.Size), min(to, cp.Size)
	pending, err := s.cfg.Store.DecisionsNotLogged(ctx, since, until, maxPendingExport)
	if err != nil {
		s.logStoreDown(w, "export pending records", err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := translog.NewBundleWriter(w)
	if err := s.writeBundle(ctx, bw, cp, from, to, since, until, pending); err != nil {
		s.cfg.Logger.Error("export the decision log", "err", err) // the bundle ends short: verify says so
		return
	}
	if err := bw.Flush(); err != nil {
		s.cfg.Logger.Warn("export the decision log", "err", err)
	}
}

// writeBundle writes the bundle's lines in order.
func (s *Server) writeBundle(ctx context.Context, bw *translog.BundleWriter, cp store.LogCheckpoint, from, to uint64, since, until time.Time, pending []store.Decision) error {
	hdr := translog.BundleHeader{Origin: s.cfg.LogSigner.Origin(), Size: cp.Size, From: from, To: to, Since: since, Until: until}
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
		return bw.Write(translog.BundleLine{Record: &translog.BundleRecord{Index: d.LogIndex, Signature: d.LogSig, Decision: withoutLog(d)}})
	})
	if err != nil {
		return err
	}
	for _, d := range pending {
		if err := bw.Write(translog.BundleLine{Record: &translog.BundleRecord{Signature: d.LogSig, Decision: withoutLog(d)}}); err != nil {
			return err
		}
	}
	return nil
}

// withoutLog is the record without its log fields, which the bundle line carries apart.
func withoutLog(d store.Decision) store.Decision {
	d.LogSig, d.LogMAC, d.LogIndex = nil, nil, nil
	return d
}
