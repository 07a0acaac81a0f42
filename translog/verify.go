package translog

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Kinds of Finding.
const (
	// FindingCheckpoint: a checkpoint the log key did not sign, or of another log.
	FindingCheckpoint = "bad_checkpoint"
	// FindingRewritten: the leaves do not hash to a signed checkpoint's root: the log itself was
	// rewritten (or truncated) after that checkpoint.
	FindingRewritten = "rewritten"
	// FindingFork: a checkpoint the reviewer saved earlier is not a prefix of this log.
	FindingFork = "fork"
	// FindingAltered: a logged record whose content changed since it was logged.
	FindingAltered = "altered"
	// FindingDeleted: a logged record that is missing.
	FindingDeleted = "deleted"
	// FindingInserted: a record the CM did not sign, or at a position it was not logged at.
	FindingInserted = "inserted"
	// FindingReordered: a logged record found at another position than it was logged at.
	FindingReordered = "reordered"
	// FindingUnsigned: a record the sequencer logged as not signed by the log key: forged
	// before it was logged.
	FindingUnsigned = "unsigned"
	// FindingWindow: the bundle's header claims an exported window that its proofs contradict
	// (one that would excuse missing records), or a time window whose bounds the bundle does
	// not prove: verification uses the window they support.
	FindingWindow = "bad_window"
	// FindingOrder: lines out of the exporter's order (header, checkpoints, leaves, records):
	// they are not used, and not counted as checked.
	FindingOrder = "out_of_order"
	// FindingUncovered: leaves beyond the latest signed checkpoint, which no signed root vouches
	// for (an exporter writes none): the checkpoints that cover them are missing.
	FindingUncovered = "uncovered"
	// FindingTruncated: the exporter left out some of the window's records not logged yet.
	FindingTruncated = "truncated"
)

// Stages of a bundle, in the order its lines come.
const (
	stageStart = iota
	stageHeader
	stageCheckpoints
	stageLeaves
	stageRecords
)

// Finding is one thing verification found wrong.
type Finding struct {
	Kind string `json:"kind"`
	// ID is the record's id, when the finding is about one.
	ID string `json:"id,omitempty"`
	// Index is the log position concerned, -1 for none.
	Index  int64  `json:"index"`
	Detail string `json:"detail"`
}

// Report is the outcome of Verify.
type Report struct {
	// Size is the size of the latest valid checkpoint.
	Size uint64 `json:"size"`
	// Checkpoints is how many signed checkpoints were checked (the reviewer's included).
	Checkpoints int `json:"checkpoints"`
	// From and To bound the log positions whose records the bundle was checked to hold all of:
	// the whole log for an export of every record, else the header's window as far as the
	// proofs support it (FindingWindow otherwise).
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
	// Records is how many logged records were checked; Pending how many are not logged yet.
	Records int `json:"records"`
	Pending int `json:"pending"`
	// Findings is empty when the bundle verifies.
	Findings []Finding `json:"findings"`
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

func (r *Report) find(kind, id string, index int64, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Kind: kind, ID: id, Index: index, Detail: fmt.Sprintf(format, args...)})
}

// checked is a checkpoint whose signature verified; saved marks the reviewer's own.
type checked struct {
	Checkpoint
	saved bool
}

// verification is the state of one Verify.
type verification struct {
	v       *Verifier
	rep     Report
	header  *BundleHeader
	cps     []checked
	leaves  []BundleLeaf
	indexOf map[string]uint64 // logged records' positions, by id
	byHash  map[string]uint64 // logged records' positions, by leaf hash (built at need: loggedAt)
	seen    map[uint64]bool   // positions whose record the bundle holds
	bounds  map[uint64]int64  // proven decision times (µs) of the window's bounds, by position
	stage   int               // the stage of the last line read
	late    map[string]int    // lines out of order, by kind, not used
	// rooted is set once the roots are checked (before the first record); suspectFrom is then
	// the first position that no verified signed root vouches for: a record from there on is
	// trusted only with a valid signature.
	rooted      bool
	suspectFrom uint64
}

// Verify checks a bundle against the log's key: every checkpoint's signature; that the
// leaves hash to every checkpoint's root, and to those of saved, the checkpoints a reviewer
// kept from earlier (a fork otherwise); and that every exported record is the one logged at
// its position, signed by the log key. It names each record altered, deleted, inserted or
// reordered. An error means the bundle could not be read, or a saved checkpoint is not one of
// this log signed by its key (it proves nothing either way: not a fork); findings are in the
// Report.
func Verify(r io.Reader, v *Verifier, saved []string) (Report, error) {
	s := &verification{v: v, indexOf: map[string]uint64{}, seen: map[uint64]bool{}, bounds: map[uint64]int64{}, late: map[string]int{}}
	for i, text := range saved {
		cp, err := v.OpenCheckpoint(text)
		if err != nil {
			return s.rep, fmt.Errorf("translog: saved checkpoint %d of %d is not one of this log signed by its key: %w", i+1, len(saved), err)
		}
		s.note(cp, true)
	}
	err := readBundle(r, s.line)
	if err != nil {
		return s.rep, err
	}
	if s.header == nil {
		return s.rep, errors.New("translog: the bundle has no header")
	}
	s.checkRoots()
	s.reportLate()
	if s.header.PendingTruncated {
		s.rep.find(FindingTruncated, "", -1, "the exporter left out some of the window's records not logged yet (it holds %d): export again once the log has caught up", s.rep.Pending)
	}
	s.rep.From, s.rep.To = s.window()
	s.checkBounds()
	s.checkDeleted()
	return s.rep, nil
}

// line takes one line of the bundle, in the exporter's order: a checkpoint or a leaf that
// comes later than its place is set aside (FindingOrder), since the roots are checked once,
// before the first record.
func (s *verification) line(n int, l BundleLine) error {
	if s.header == nil && l.Header == nil {
		return fmt.Errorf("translog: bundle line %d: the bundle does not start with its header", n)
	}
	switch {
	case l.Header != nil:
		if s.header != nil {
			return fmt.Errorf("translog: bundle line %d: a second header", n)
		}
		s.header, s.stage = l.Header, stageHeader
	case l.Checkpoint != "":
		if s.stage > stageCheckpoints {
			s.late["checkpoint"]++
			return nil
		}
		s.stage = stageCheckpoints
		s.checkpoint(l.Checkpoint)
	case l.Leaf != nil:
		if s.stage > stageLeaves {
			s.late["leaf"]++
			return nil
		}
		s.stage = stageLeaves
		return s.leaf(n, *l.Leaf)
	case l.Record != nil:
		s.stage = stageRecords
		s.checkRoots()
		s.record(*l.Record)
	case l.Bound != nil:
		s.stage = stageRecords
		s.checkRoots()
		s.bound(*l.Bound)
	default:
		return fmt.Errorf("translog: bundle line %d: empty", n)
	}
	return nil
}

// reportLate names the lines set aside for coming out of order.
func (s *verification) reportLate() {
	for _, kind := range []string{"checkpoint", "leaf"} {
		if n := s.late[kind]; n > 0 {
			s.rep.find(FindingOrder, "", -1, "%d %s lines after the records (an exporter writes them before): not checked, not counted", n, kind)
		}
	}
}

// checkpoint notes a checkpoint of the bundle, or a FindingCheckpoint when it does not verify.
func (s *verification) checkpoint(text string) {
	cp, err := s.v.OpenCheckpoint(text)
	if err != nil {
		s.rep.find(FindingCheckpoint, "", -1, "%v", err)
		return
	}
	s.note(cp, false)
}

// note counts a verified checkpoint: of the bundle, or saved by the reviewer earlier.
func (s *verification) note(cp Checkpoint, saved bool) {
	s.rep.Checkpoints++
	s.cps = append(s.cps, checked{Checkpoint: cp, saved: saved})
	s.rep.Size = max(s.rep.Size, cp.Size)
}

// leaf notes the next leaf; leaves come in index order.
func (s *verification) leaf(n int, l BundleLeaf) error {
	if l.Index != uint64(len(s.leaves)) {
		return fmt.Errorf("translog: bundle line %d: leaf %d out of order (want %d)", n, l.Index, len(s.leaves))
	}
	s.leaves = append(s.leaves, l)
	s.indexOf[l.ID] = l.Index
	return nil
}

// record checks one exported record against the leaf at its position.
func (s *verification) record(r BundleRecord) {
	d := r.Decision
	canonical, leaf, err := RecordLeaf(d)
	if err != nil {
		s.rep.find(FindingInserted, d.ID, -1, "cannot encode: %v", err)
		return
	}
	if r.Index == nil {
		if !s.v.VerifyRecord(canonical, r.Signature) {
			s.rep.find(FindingInserted, d.ID, -1, "not logged yet, and not signed by the log key")
			return
		}
		s.rep.Pending++
		return
	}
	i := *r.Index
	at := int64(i)
	switch {
	case i >= uint64(len(s.leaves)):
		s.rep.find(FindingInserted, d.ID, at, "position %d is beyond the log's %d records", i, len(s.leaves))
		return
	case s.seen[i]:
		s.rep.find(FindingInserted, d.ID, at, "a second record at position %d", i)
		return
	}
	s.seen[i] = true
	s.rep.Records++
	want := s.leaves[i]
	switch {
	case want.ID != d.ID:
		if logged, ok := s.indexOf[d.ID]; ok {
			s.rep.find(FindingReordered, d.ID, at, "logged at %d, found at %d (where %s was logged)", logged, i, want.ID)
		} else {
			s.rep.find(FindingInserted, d.ID, at, "never logged; position %d holds %s", i, want.ID)
		}
	case bytes.Equal(want.Hash, leaf):
		// Logged as signed: the sequencer checked the signature (or the record MAC, which only
		// a holder of the log key makes), and the checkpoints cover it,
		// unless the tree was rewritten here: then the signature tells.
		if i >= s.suspectFrom && !s.v.VerifyRecord(canonical, r.Signature) {
			s.rep.find(FindingAltered, d.ID, at, "not signed by the log key, and the log's leaves were rewritten to match")
		}
	case bytes.Equal(want.Hash, UnsignedLeafHash(canonical)):
		s.rep.find(FindingUnsigned, d.ID, at, "logged at %d as not signed by the log key", i)
	default:
		// The names beside the leaves are the store's, not the tree's: a record the log holds
		// at another position, exported here under a swapped name, was moved.
		if logged, ok := s.loggedAt(leaf); ok && logged != i {
			s.rep.find(FindingReordered, d.ID, at, "logged at %d, found at %d", logged, i)
			return
		}
		s.rep.find(FindingAltered, d.ID, at, "its content differs from what was logged at %d", i)
	}
}

// loggedAt returns the position of the leaf with hash leaf, if the log has one; it indexes
// the leaves by hash on first use (only a bundle with a mismatched record pays for it).
func (s *verification) loggedAt(leaf []byte) (uint64, bool) {
	if s.byHash == nil {
		s.byHash = make(map[string]uint64, len(s.leaves))
		for _, l := range s.leaves {
			s.byHash[string(l.Hash)] = l.Index
		}
	}
	i, ok := s.byHash[string(leaf)]
	return i, ok
}

// checkRoots rebuilds the tree from the leaves and compares its root at every checkpoint,
// once, and notes from which position a rewritten tree may have changed leaves.
func (s *verification) checkRoots() {
	if s.rooted {
		return
	}
	s.rooted, s.suspectFrom = true, math.MaxUint64
	slices.SortFunc(s.cps, func(a, b checked) int { return cmp.Compare(a.Size, b.Size) })
	t, _ := NewTree(0, nil)
	next, good := 0, uint64(0)
	for i := 0; next < len(s.cps); i++ {
		for next < len(s.cps) && s.cps[next].Size == t.Size() {
			root, err := t.Root()
			switch {
			case err == nil && bytes.Equal(root, s.cps[next].Root):
				good = t.Size()
			case s.cps[next].saved:
				s.rep.find(FindingFork, "", int64(t.Size()), "the first %d records do not hash to the root of the checkpoint saved earlier", t.Size())
				s.suspectFrom = min(s.suspectFrom, good)
			default:
				s.rep.find(FindingRewritten, "", int64(t.Size()), "the first %d records do not hash to the signed root of that size", t.Size())
				s.suspectFrom = min(s.suspectFrom, good)
			}
			next++
		}
		if i >= len(s.leaves) {
			break
		}
		if _, err := t.Append(s.leaves[i].Hash); err != nil {
			s.rep.find(FindingRewritten, "", int64(i), "leaf %d: %v", i, err)
			s.suspectFrom = 0
			return
		}
	}
	for ; next < len(s.cps); next++ {
		s.rep.find(FindingRewritten, "", int64(s.cps[next].Size), "a checkpoint of %d records, but the log has %d", s.cps[next].Size, len(s.leaves))
	}
	covered := uint64(0)
	if len(s.cps) > 0 {
		covered = s.cps[len(s.cps)-1].Size
	}
	if covered < uint64(len(s.leaves)) {
		s.rep.find(FindingUncovered, "", int64(covered), "leaves %d to %d are covered by no signed checkpoint in the bundle", covered, len(s.leaves)-1)
	}
	s.suspectFrom = min(s.suspectFrom, good) // no signed root covers the leaves beyond
}
