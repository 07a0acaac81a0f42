package translog

import (
	"bytes"
	"math"
	"time"
)

// window derives the positions whose records the bundle must hold from what is proven: the
// leaves (which the signed checkpoints vouch for) and the records found at their positions.
// The header's From and To are the exporter's word, and trusting them would let it excuse a
// deleted record by leaving its position out: an export of the whole log (no Since, no Until)
// must hold every leaf, [0, size); a time window's [From, To) must lie within the leaves and
// hold every logged record the bundle exports (a window is one contiguous run of positions,
// so no present record lies beyond a deleted one's window). A claim the proofs contradict is
// a FindingWindow, and the window widens to what they support. checkBounds then checks that
// the window's bounds are proven by the records just outside it.
func (s *verification) window() (from, to uint64) {
	h, size := s.header, uint64(len(s.leaves))
	if h.Since.IsZero() && h.Until.IsZero() {
		if h.From != 0 || h.To != size {
			s.rep.find(FindingWindow, "", int64(h.From), "the header claims positions [%d, %d) of an export of the whole log, whose signed leaves are [0, %d)", h.From, h.To, size)
		}
		return 0, size
	}
	from, to = min(h.From, size), min(h.To, size)
	if h.From > h.To || h.To > size {
		s.rep.find(FindingWindow, "", int64(h.From), "the header claims positions [%d, %d), beyond the %d signed leaves", h.From, h.To, size)
		from, to = min(from, to), max(from, to)
	}
	outside, lo, hi := 0, uint64(math.MaxUint64), uint64(0)
	for i := range s.seen {
		if i < h.From || i >= h.To {
			outside, lo, hi = outside+1, min(lo, i), max(hi, i+1)
		}
	}
	if outside > 0 {
		s.rep.find(FindingWindow, "", int64(lo), "the header's window [%d, %d) leaves out %d records the bundle holds, at positions %d to %d", h.From, h.To, outside, lo, hi-1)
		from, to = min(from, lo), max(to, hi)
	}
	return from, to
}

// bound notes the proven decision time of a record carried as a window's bound: the leaf at
// its position must be its own (as signed or as unsigned: either way the tree holds its time),
// under a verified signed root or with a valid signature.
func (s *verification) bound(r BundleRecord) {
	d := r.Decision
	if r.Index == nil {
		s.rep.find(FindingWindow, d.ID, -1, "a bound of the window with no log position")
		return
	}
	i := *r.Index
	if i >= uint64(len(s.leaves)) {
		s.rep.find(FindingWindow, d.ID, int64(i), "a bound of the window at %d, beyond the log's %d records", i, len(s.leaves))
		return
	}
	canonical, leaf, err := RecordLeaf(d)
	if err != nil {
		s.rep.find(FindingWindow, d.ID, int64(i), "a bound of the window that cannot be encoded: %v", err)
		return
	}
	want := s.leaves[i].Hash
	switch {
	case !bytes.Equal(want, leaf) && !bytes.Equal(want, UnsignedLeafHash(canonical)):
		s.rep.find(FindingWindow, d.ID, int64(i), "the record given as the window's bound at %d is not the one logged there", i)
	case i >= s.suspectFrom && !s.v.VerifyRecord(canonical, r.Signature):
		s.rep.find(FindingWindow, d.ID, int64(i), "the window's bound at %d is vouched for by no signed root nor signature", i)
	default:
		s.bounds[i] = d.Time.UTC().UnixMicro()
	}
}

// checkBounds checks that a time window's positions [From, To) are the whole window: the
// record just before it (From-1) was decided before Since, and the one just after it (To) at
// or after Until, as their leaves prove. The log is in log order, not strictly in time order
// (several replicas decide), so this proves the window's edges, not that no record decided in
// the window was logged farther out (docs/decision-log.md).
func (s *verification) checkBounds() {
	h := s.header
	if h.Since.IsZero() && h.Until.IsZero() {
		return // the whole log: [0, size) is required
	}
	if from := s.rep.From; from > 0 {
		t, ok := s.bounds[from-1]
		switch {
		case h.Since.IsZero():
			s.rep.find(FindingWindow, "", int64(from), "the window has no start time, yet leaves out positions 0 to %d", from-1)
		case !ok:
			s.rep.find(FindingWindow, "", int64(from-1), "the window's start is not proven: no record at %d shows it was decided before %s", from-1, h.Since.Format(time.RFC3339Nano))
		case !time.UnixMicro(t).Before(h.Since):
			s.rep.find(FindingWindow, s.leaves[from-1].ID, int64(from-1), "the window starts after %d, decided at %s, not before %s: the window was cut short", from-1, time.UnixMicro(t).UTC().Format(time.RFC3339Nano), h.Since.Format(time.RFC3339Nano))
		}
	}
	if to := s.rep.To; to < uint64(len(s.leaves)) {
		t, ok := s.bounds[to]
		switch {
		case h.Until.IsZero():
			s.rep.find(FindingWindow, "", int64(to), "the window has no end time, yet leaves out positions %d to %d", to, len(s.leaves)-1)
		case !ok:
			s.rep.find(FindingWindow, "", int64(to), "the window's end is not proven: no record at %d shows it was decided at or after %s", to, h.Until.Format(time.RFC3339Nano))
		case time.UnixMicro(t).Before(h.Until):
			s.rep.find(FindingWindow, s.leaves[to].ID, int64(to), "the window ends before %d, decided at %s, before %s: the window was cut short", to, time.UnixMicro(t).UTC().Format(time.RFC3339Nano), h.Until.Format(time.RFC3339Nano))
		}
	}
}

// checkDeleted names the logged records of the window that the bundle lacks.
func (s *verification) checkDeleted() {
	for i := s.rep.From; i < s.rep.To; i++ {
		if s.seen[i] {
			continue
		}
		l := s.leaves[i]
		s.rep.find(FindingDeleted, l.ID, int64(i), "logged at %d, missing", i)
	}
}
