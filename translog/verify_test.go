package translog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
)

// testLog is a log built in memory: records signed and appended, checkpoints signed.
type testLog struct {
	signer  *Signer
	verify  *Verifier
	records []BundleRecord
	leaves  []BundleLeaf
	cps     []string
	// header is the bundle's header; nil: an export of the whole log.
	header *BundleHeader
	// bounds are the records a time window's bundle carries as its bounds.
	bounds []BundleRecord
}

func newTestLog(t *testing.T, n int) *testLog {
	t.Helper()
	skey, vkey, err := certs.NewLogKey()
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{}
	if l.signer, err = NewSigner(skey, vkey); err != nil {
		t.Fatal(err)
	}
	if l.verify, err = NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	tree, _ := NewTree(0, nil)
	for i := range n {
		d := store.Decision{ID: fmt.Sprintf("dec_%03d", i), Time: time.Date(2026, 12, 1, 9, 0, i, 0, time.UTC), Path: "/v1/connect",
			Subject: "alice@example.com", HostName: "db-1", Allow: i%2 == 0, Reasons: []string{"ok"},
			Input: json.RawMessage(`{"a": 1}`), Result: json.RawMessage(`{"allow":true}`), Labels: map[string]string{"cm": "cm-1"}}
		canonical, leaf, err := RecordLeaf(d)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := l.signer.SignRecord(canonical)
		if err != nil {
			t.Fatal(err)
		}
		idx := uint64(i)
		l.records = append(l.records, BundleRecord{Index: &idx, Signature: sig, Decision: d})
		l.leaves = append(l.leaves, BundleLeaf{Index: idx, ID: d.ID, Hash: leaf})
		if _, err := tree.Append(leaf); err != nil {
			t.Fatal(err)
		}
		if (i+1)%4 == 0 || i == n-1 {
			root, _ := tree.Root()
			cp, err := l.signer.SignCheckpoint(tree.Size(), root)
			if err != nil {
				t.Fatal(err)
			}
			l.cps = append(l.cps, cp.Note)
		}
	}
	return l
}

// bundle writes the log as an export bundle of all its records.
func (l *testLog) bundle(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	w := NewBundleWriter(&buf)
	header := l.header
	if header == nil {
		header = &BundleHeader{Origin: certs.LogOrigin, Size: uint64(len(l.leaves)), From: 0, To: uint64(len(l.leaves))}
	}
	lines := []BundleLine{{Header: header}}
	for _, cp := range l.cps {
		lines = append(lines, BundleLine{Checkpoint: cp})
	}
	for i := range l.leaves {
		lines = append(lines, BundleLine{Leaf: &l.leaves[i]})
	}
	for i := range l.records {
		lines = append(lines, BundleLine{Record: &l.records[i]})
	}
	for i := range l.bounds {
		lines = append(lines, BundleLine{Bound: &l.bounds[i]})
	}
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

func TestVerifyNamesEveryTamperedRecord(t *testing.T) {
	const n = 10
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, l *testLog)
		want   []Finding // kind and id (and index) of each finding
	}{
		{"untouched", func(*testing.T, *testLog) {}, nil},
		{"a field updated", func(_ *testing.T, l *testLog) { l.records[3].Decision.Allow = !l.records[3].Decision.Allow },
			[]Finding{{Kind: FindingAltered, ID: "dec_003", Index: 3}}},
		{"a row deleted", func(_ *testing.T, l *testLog) { l.records = slices.Delete(l.records, 5, 6) },
			[]Finding{{Kind: FindingDeleted, ID: "dec_005", Index: 5}}},
		{"a forged row inserted, not yet logged", func(_ *testing.T, l *testLog) {
			forged := l.records[0]
			forged.Index, forged.Decision.ID, forged.Decision.Subject = nil, "dec_forged", "mallory@example.com"
			l.records = append(l.records, forged)
		}, []Finding{{Kind: FindingInserted, ID: "dec_forged", Index: -1}}},
		{"a forged row logged by the sequencer", func(t *testing.T, l *testLog) {
			d := l.records[9].Decision
			d.ID, d.Subject, d.LogSig = "dec_forged", "mallory@example.com", []byte("x")
			leaf, signed, _ := l.signer.Leaf(d) // what the sequencer appends
			if signed {
				t.Fatal("a forged signature passed")
			}
			d.LogSig = nil
			l.leaves[9], l.records[9] = BundleLeaf{Index: 9, ID: d.ID, Hash: leaf}, BundleRecord{Index: l.records[9].Index, Signature: []byte("x"), Decision: d}
			l.cps = l.cps[:len(l.cps)-1] // no checkpoint covers the last record
			tree, _ := NewTree(0, nil)
			for _, lf := range l.leaves {
				_, _ = tree.Append(lf.Hash)
			}
			root, _ := tree.Root()
			cp, _ := l.signer.SignCheckpoint(tree.Size(), root)
			l.cps = append(l.cps, cp.Note)
		}, []Finding{{Kind: FindingUnsigned, ID: "dec_forged", Index: 9}}},
		{"two rows swapped", func(_ *testing.T, l *testLog) {
			a, b := *l.records[1].Index, *l.records[2].Index
			l.records[1].Index, l.records[2].Index = &b, &a
		}, []Finding{{Kind: FindingReordered, ID: "dec_001", Index: 2}, {Kind: FindingReordered, ID: "dec_002", Index: 1}}},
		{"two leaves' names swapped, and their records with them", func(_ *testing.T, l *testLog) {
			l.leaves[1].ID, l.leaves[2].ID = l.leaves[2].ID, l.leaves[1].ID
			a, b := *l.records[1].Index, *l.records[2].Index
			l.records[1].Index, l.records[2].Index = &b, &a
		}, []Finding{{Kind: FindingReordered, ID: "dec_001", Index: 2}, {Kind: FindingReordered, ID: "dec_002", Index: 1}}},
		{"the log rewritten to hide an update", func(_ *testing.T, l *testLog) {
			l.records[3].Decision.Allow = !l.records[3].Decision.Allow
			_, leaf, _ := RecordLeaf(l.records[3].Decision)
			l.leaves[3].Hash = leaf
		}, []Finding{
			{Kind: FindingAltered, ID: "dec_003", Index: 3}, // its signature no longer matches
			{Kind: FindingRewritten, Index: 4}, {Kind: FindingRewritten, Index: 8}, {Kind: FindingRewritten, Index: 10},
		}},
		{"a forged header hides a deleted first record", func(_ *testing.T, l *testLog) {
			l.records = l.records[1:]
			l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 1, To: 10}
		}, []Finding{{Kind: FindingWindow, Index: 1}, {Kind: FindingDeleted, ID: "dec_000", Index: 0}}},
		{"a forged header hides a deleted last record", func(_ *testing.T, l *testLog) {
			l.records = l.records[:9]
			l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 0, To: 9}
		}, []Finding{{Kind: FindingWindow, Index: 0}, {Kind: FindingDeleted, ID: "dec_009", Index: 9}}},
		{"a time window's forged header hides a deleted record", func(_ *testing.T, l *testLog) {
			l.bounds = []BundleRecord{l.records[1], l.records[8]}
			l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 6, To: 8, Since: l.records[2].Decision.Time, Until: l.records[8].Decision.Time}
			l.records = slices.Concat(l.records[2:5], l.records[6:8]) // the window is [2, 8); 5 deleted
		}, []Finding{{Kind: FindingWindow, Index: 2}, {Kind: FindingDeleted, ID: "dec_005", Index: 5}}},
		{"a time window's header claims more than the log", func(_ *testing.T, l *testLog) {
			l.bounds = []BundleRecord{l.records[1]}
			l.records = l.records[2:]
			l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 2, To: 12, Since: l.records[0].Decision.Time}
		}, []Finding{{Kind: FindingWindow, Index: 2}}},
		{"a time window verifies", func(_ *testing.T, l *testLog) {
			l.bounds = []BundleRecord{l.records[1], l.records[8]}
			l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 2, To: 8, Since: l.records[2].Decision.Time, Until: l.records[8].Decision.Time}
			l.records = l.records[2:8]
		}, nil},
		{"a checkpoint signed by another key", func(t *testing.T, l *testLog) {
			other := newTestLog(t, 1)
			l.cps = append(l.cps, other.cps[0])
		}, []Finding{{Kind: FindingCheckpoint, Index: -1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLog(t, n)
			c.tamper(t, l)
			checkFindings(t, l, c.want)
		})
	}
}

// checkFindings verifies l's bundle and requires exactly the findings want (kind, record and
// position), in any order.
func checkFindings(t *testing.T, l *testLog, want []Finding) {
	t.Helper()
	rep, err := Verify(l.bundle(t), l.verify, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]Finding, len(rep.Findings))
	for i, f := range rep.Findings {
		got[i] = Finding{Kind: f.Kind, ID: f.ID, Index: f.Index}
	}
	sortFindings(got)
	sortFindings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("findings = %+v\nwant %+v", rep.Findings, want)
	}
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		if a.Kind != b.Kind {
			return bytes.Compare([]byte(a.Kind), []byte(b.Kind))
		}
		return int(a.Index - b.Index)
	})
}

func TestASavedCheckpointDetectsARewrittenHistory(t *testing.T) {
	l := newTestLog(t, 8)
	saved := l.cps[0] // the reviewer kept the checkpoint of the first 4 records
	// The operator rewrites the log from scratch with record 2 changed, and signs it anew.
	forked := newTestLog(t, 0)
	forked.signer, forked.verify = l.signer, l.verify
	tree, _ := NewTree(0, nil)
	for i, r := range l.records {
		d := r.Decision
		if i == 2 {
			d.Allow = !d.Allow
		}
		canonical, leaf, _ := RecordLeaf(d)
		sig, _ := l.signer.SignRecord(canonical)
		idx := uint64(i)
		forked.records = append(forked.records, BundleRecord{Index: &idx, Signature: sig, Decision: d})
		forked.leaves = append(forked.leaves, BundleLeaf{Index: idx, ID: d.ID, Hash: leaf})
		_, _ = tree.Append(leaf)
	}
	root, _ := tree.Root()
	cp, _ := l.signer.SignCheckpoint(tree.Size(), root)
	forked.cps = []string{cp.Note}
	rep, err := Verify(forked.bundle(t), l.verify, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("the rewritten log alone verifies: %+v, %v (a signing operator can rewrite it)", rep, err)
	}
	rep, err = Verify(forked.bundle(t), l.verify, []string{saved})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != FindingFork || rep.Findings[0].Index != 4 {
		t.Fatalf("with the saved checkpoint: %+v, want the first 4 records found rewritten", rep.Findings)
	}
}

// A saved checkpoint that is not one of this log signed by its key proves nothing about the
// bundle: Verify refuses it as an input it cannot use, rather than reporting a fork.
func TestASavedCheckpointThatIsNotOneOfThisLogIsRefused(t *testing.T) {
	l := newTestLog(t, 8)
	other := newTestLog(t, 4)
	for name, saved := range map[string]string{
		"not a checkpoint":             "garbage\n",
		"of another log's key":         other.cps[0],
		"this log's, its size changed": strings.Replace(l.cps[0], "\n4\n", "\n5\n", 1),
	} {
		t.Run(name, func(t *testing.T) {
			rep, err := Verify(l.bundle(t), l.verify, []string{l.cps[1], saved})
			if err == nil || !strings.Contains(err.Error(), "saved checkpoint 2 of 2") {
				t.Fatalf("Verify = %+v, %v; want the second saved checkpoint refused", rep, err)
			}
			if len(rep.Findings) != 0 {
				t.Fatalf("findings %+v for a refused input", rep.Findings)
			}
		})
	}
	if rep, err := Verify(l.bundle(t), l.verify, []string{l.cps[0], l.cps[1]}); err != nil || !rep.OK() {
		t.Fatalf("with checkpoints the log did sign: %+v, %v", rep, err)
	}
}
