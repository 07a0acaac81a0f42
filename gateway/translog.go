package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// The decision log's transparency log. Every record is signed with the log key before it is
// committed (commit). The holder of the singleton lease is the sequencer: every runTick it
// appends the committed records not yet logged to the Merkle tree, in (time, id) order, and
// signs a checkpoint of the new tree, all in one store transaction; a record is in a
// checkpoint within seconds of its commit. A ticket waits only for the commit, never for the
// checkpoint.
//
// The sequencer also steps every sequenceTick when this replica committed records since its
// last step: short steps, each holding SQLite's write lock briefly, keep connects' commits
// from queueing behind one long step a second (tens of milliseconds at 500 connects/s).

const (
	// sequenceBatch bounds the records one sequencer step appends in one transaction (on
	// SQLite about 50 µs each, during which connects' commits wait for the write lock).
	sequenceBatch = 256
	// sequenceTick is how often the sequencer steps when this replica committed records; the
	// records other replicas commit it finds every runTick.
	sequenceTick = 100 * time.Millisecond
	// vanishedSweep is how often a sequencer step also drops from the queue the records deleted
	// behind the CM's back (store.LogAppend.DropVanished), which its reads skip meanwhile.
	vanishedSweep = time.Minute
)

// signRecord signs a record with the log key (its signature and record MAC) and remembers its
// leaf hash for the sequencer (signedLeaves).
func (s *Server) signRecord(d *store.Decision) error {
	leaf, err := s.cfg.LogSigner.SignDecision(d)
	if err != nil {
		return err
	}
	s.signed.remember(d.ID, leaf)
	return nil
}

// sequenceCommitted runs sequenceLog when this replica holds the lease and committed records
// since the sequencer's last step.
func (s *Server) sequenceCommitted(ctx context.Context) {
	if s.lease.held() && s.unlogged.Load() {
		s.sequenceHeld(ctx)
	}
}

// sequenceHeld runs sequenceLog (the lease is held) and logs its failure; the records committed
// here until then are in its steps.
func (s *Server) sequenceHeld(ctx context.Context) {
	s.unlogged.Store(false)
	if err := s.sequenceLog(ctx); err != nil {
		s.cfg.Logger.Warn("append committed records to the decision log", "err", err)
	}
}

// sequenceLog appends every unlogged record to the log, batch by batch, each with its signed
// checkpoint. Another sequencer's step first (ErrConflict) ends it; the next tick resumes.
func (s *Server) sequenceLog(ctx context.Context) error {
	for {
		n, err := s.sequenceStep(ctx)
		if err != nil {
			s.logTree = nil // resume from the store next time
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		}
		if n < sequenceBatch {
			return nil
		}
	}
}

// sequenceStep appends up to sequenceBatch unlogged records and returns how many.
func (s *Server) sequenceStep(ctx context.Context) (int, error) {
	recs, err := s.cfg.Store.UnloggedDecisions(ctx, sequenceBatch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	tree, err := s.currentTree(ctx)
	if err != nil {
		return 0, err
	}
	from := tree.Size()
	now := s.cfg.Now()
	step := store.LogAppend{FromSize: from, DropVanished: now.Sub(s.vanishedSwept) >= vanishedSweep}
	for i, d := range recs {
		leaf, signed, err := s.signed.leaf(s.cfg.LogSigner, d)
		if err != nil {
			return 0, err
		}
		if !signed {
			s.cfg.Logger.Error("decision record not signed by the log key: logged as unsigned", "decision_id", d.ID)
		}
		nodes, err := tree.Append(leaf)
		if err != nil {
			return 0, err
		}
		step.Leaves = append(step.Leaves, store.LogLeaf{Index: from + uint64(i), DecisionID: d.ID, Time: d.Time, Hash: leaf})
		for _, n := range nodes {
			step.Nodes = append(step.Nodes, store.LogNode{Level: n.Level, Index: n.Index, Hash: n.Hash})
		}
	}
	root, err := tree.Root()
	if err != nil {
		return 0, err
	}
	cp, err := s.cfg.LogSigner.SignCheckpoint(tree.Size(), root)
	if err != nil {
		return 0, err
	}
	step.Checkpoint = store.LogCheckpoint{Size: cp.Size, Root: cp.Root, Note: cp.Note, SignedAt: now}
	if err := s.cfg.Store.AppendLog(ctx, step); err != nil {
		return 0, err
	}
	if step.DropVanished {
		s.vanishedSwept = now
	}
	return len(recs), nil
}

// currentTree returns the tree as of the latest checkpoint: the one this replica appended to
// last, or else resumed from the store's nodes.
func (s *Server) currentTree(ctx context.Context) (*translog.Tree, error) {
	var size uint64
	cp, err := s.cfg.Store.LatestCheckpoint(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		size = cp.Size
	}
	if s.logTree != nil && s.logTree.Size() == size {
		return s.logTree, nil
	}
	hashes, err := s.cfg.Store.LogNodeHashes(ctx, storeNodes(translog.CompactNodes(size)))
	if err != nil {
		return nil, fmt.Errorf("resume the log of %d records: %w", size, err)
	}
	t, err := translog.NewTree(size, hashes)
	if err != nil {
		return nil, err
	}
	s.logTree = t
	return t, nil
}

// storeNodes names translog's nodes as the store does.
func storeNodes(ns []translog.Node) []store.LogNode {
	out := make([]store.LogNode, len(ns))
	for i, n := range ns {
		out[i] = store.LogNode{Level: n.Level, Index: n.Index}
	}
	return out
}
