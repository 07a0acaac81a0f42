package translog

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
)

// writeLines writes a bundle of exactly these lines, in this order.
func writeLines(t *testing.T, lines []BundleLine) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	w := NewBundleWriter(&buf)
	for _, line := range lines {
		if err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// withoutRecord is the log with record n taken out of the tree: its leaf dropped, the later
// leaves and records renumbered (what an operator who deletes a row and rebuilds the leaves
// gets), and the header of that 9-record log.
func withoutRecord(l *testLog, n int) (*BundleHeader, []BundleLeaf, []BundleRecord) {
	var leaves []BundleLeaf
	var recs []BundleRecord
	for i := range l.leaves {
		if i == n {
			continue
		}
		lf, r := l.leaves[i], l.records[i]
		idx := uint64(len(leaves))
		lf.Index, r.Index = idx, &idx
		leaves, recs = append(leaves, lf), append(recs, r)
	}
	size := uint64(len(leaves))
	return &BundleHeader{Origin: certs.LogOrigin, Size: size, To: size}, leaves, recs
}

func TestVerifyChecksEveryCheckpointWhateverTheLineOrder(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines func(l *testLog) []BundleLine
		want  []string // finding kinds, sorted
		// checked is how many checkpoints the report may count: those compared with the leaves.
		checked int
	}{
		{"checkpoints moved after the records hide a removed record", func(l *testLog) []BundleLine {
			h, leaves, recs := withoutRecord(l, 5)
			lines := []BundleLine{{Header: h}, {Checkpoint: l.cps[0]}}
			for i := range leaves {
				lines = append(lines, BundleLine{Leaf: &leaves[i]})
			}
			for i := range recs {
				lines = append(lines, BundleLine{Record: &recs[i]})
			}
			return append(lines, BundleLine{Checkpoint: l.cps[1]}, BundleLine{Checkpoint: l.cps[2]})
		}, []string{FindingOrder, FindingUncovered}, 1},
		{"the checkpoints covering a removed record left out", func(l *testLog) []BundleLine {
			h, leaves, recs := withoutRecord(l, 5)
			lines := []BundleLine{{Header: h}, {Checkpoint: l.cps[0]}}
			for i := range leaves {
				lines = append(lines, BundleLine{Leaf: &leaves[i]})
			}
			for i := range recs {
				lines = append(lines, BundleLine{Record: &recs[i]})
			}
			return lines
		}, []string{FindingUncovered}, 1},
		{"a checkpoint between the leaves and the records", func(l *testLog) []BundleLine {
			lines := []BundleLine{{Header: &BundleHeader{Origin: certs.LogOrigin, Size: 10, To: 10}}, {Checkpoint: l.cps[0]}, {Checkpoint: l.cps[1]}}
			for i := range l.leaves {
				lines = append(lines, BundleLine{Leaf: &l.leaves[i]})
			}
			lines = append(lines, BundleLine{Checkpoint: l.cps[2]})
			for i := range l.records {
				lines = append(lines, BundleLine{Record: &l.records[i]})
			}
			return lines
		}, []string{FindingOrder, FindingUncovered}, 2},
		{"a leaf after the records", func(l *testLog) []BundleLine {
			lines := []BundleLine{{Header: &BundleHeader{Origin: certs.LogOrigin, Size: 10, To: 10}}, {Checkpoint: l.cps[0]}, {Checkpoint: l.cps[1]}, {Checkpoint: l.cps[2]}}
			for i := range l.leaves[:9] {
				lines = append(lines, BundleLine{Leaf: &l.leaves[i]})
			}
			for i := range l.records[:9] {
				lines = append(lines, BundleLine{Record: &l.records[i]})
			}
			return append(lines, BundleLine{Leaf: &l.leaves[9]}, BundleLine{Record: &l.records[9]})
		}, []string{FindingWindow, FindingInserted, FindingOrder, FindingRewritten}, 3},
		{"the exporter's order verifies", func(l *testLog) []BundleLine {
			lines := []BundleLine{{Header: &BundleHeader{Origin: certs.LogOrigin, Size: 10, To: 10}}}
			for _, cp := range l.cps {
				lines = append(lines, BundleLine{Checkpoint: cp})
			}
			for i := range l.leaves {
				lines = append(lines, BundleLine{Leaf: &l.leaves[i]})
			}
			for i := range l.records {
				lines = append(lines, BundleLine{Record: &l.records[i]})
			}
			return lines
		}, nil, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLog(t, 10)
			rep, err := Verify(writeLines(t, c.lines(l)), l.verify, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				if !slices.Contains(got, f.Kind) {
					got = append(got, f.Kind)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("finding kinds %v, want %v: %+v", got, c.want, rep.Findings)
			}
			if rep.OK() == (len(c.want) > 0) {
				t.Fatalf("OK = %v with findings %+v", rep.OK(), rep.Findings)
			}
			if rep.Checkpoints != c.checked {
				t.Errorf("counted %d checkpoints (up to size %d), but checked %d against the leaves", rep.Checkpoints, rep.Size, c.checked)
			}
		})
	}
}

func TestVerifyRefusesABundleNotStartingWithItsHeader(t *testing.T) {
	l := newTestLog(t, 2)
	for _, c := range []struct {
		name  string
		lines []BundleLine
		want  string
	}{
		{"a checkpoint first", []BundleLine{{Checkpoint: l.cps[0]}, {Header: &BundleHeader{Origin: certs.LogOrigin, Size: 2, To: 2}}}, "does not start with its header"},
		{"two headers", []BundleLine{{Header: &BundleHeader{Origin: certs.LogOrigin, Size: 2, To: 2}}, {Header: &BundleHeader{}}}, "a second header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(writeLines(t, c.lines), l.verify, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestVerifyProvesATimeWindowsBounds(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(l *testLog, all []BundleRecord)
		want   []Finding
	}{
		{"a window with both bounds verifies", func(l *testLog, _ []BundleRecord) {}, nil},
		{"a window from the log's start needs no start bound", func(l *testLog, all []BundleRecord) {
			l.header.From, l.header.Since = 0, all[0].Decision.Time
			l.records, l.bounds = all[:8], l.bounds[1:]
		}, nil},
		{"an open window to the log's end needs no end bound", func(l *testLog, all []BundleRecord) {
			l.header.To, l.header.Until = 10, time.Time{}
			l.records, l.bounds = all[2:], l.bounds[:1]
		}, nil},
		{"leaf times changed to hide the log's tail from an open window", func(l *testLog, _ []BundleRecord) {
			// What LogRange answered after UPDATE log_leaves SET decided_at = 0 WHERE idx >= 8.
			l.header.Until, l.bounds = time.Time{}, l.bounds[:1]
		}, []Finding{{Kind: FindingWindow, Index: 8}}},
		{"a window cut short at its end", func(l *testLog, _ []BundleRecord) {
			l.header.Until = l.header.Until.Add(2e9) // records 8 and 9 are in the window
		}, []Finding{{Kind: FindingWindow, ID: "dec_008", Index: 8}}},
		{"a window cut short at its start", func(l *testLog, _ []BundleRecord) {
			l.header.Since = l.header.Since.Add(-1e9) // record 1 is in the window
		}, []Finding{{Kind: FindingWindow, ID: "dec_001", Index: 1}}},
		{"a window without its bounds", func(l *testLog, _ []BundleRecord) { l.bounds = nil },
			[]Finding{{Kind: FindingWindow, Index: 1}, {Kind: FindingWindow, Index: 8}}},
		{"a bound whose time was changed", func(l *testLog, _ []BundleRecord) {
			l.bounds[1].Decision.Time = l.bounds[1].Decision.Time.Add(1e9)
		}, []Finding{{Kind: FindingWindow, ID: "dec_008", Index: 8}, {Kind: FindingWindow, Index: 8}}},
		{"a window with no start time that skips the log's start", func(l *testLog, _ []BundleRecord) { l.header.Since = time.Time{} },
			[]Finding{{Kind: FindingWindow, Index: 2}}},
		{"records not logged yet left out", func(l *testLog, _ []BundleRecord) { l.header.PendingTruncated = true },
			[]Finding{{Kind: FindingTruncated, Index: -1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLog(t, 10)
			// The records decided in [dec_002's time, dec_008's): positions [2, 8).
			l.bounds = []BundleRecord{l.records[1], l.records[8]}
			l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 2, To: 8, Since: l.records[2].Decision.Time, Until: l.records[8].Decision.Time}
			all := l.records
			l.records = l.records[2:8]
			c.tamper(l, all)
			checkFindings(t, l, c.want)
		})
	}
}
