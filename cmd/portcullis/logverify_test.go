package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// writeBundle writes a bundle of two logged records, the second with allow flipped when
// tamper is set, and the log's verifier key; it returns their paths. Its checkpoint is saved
// beside them too, as savedCheckpoint(bundle).
func writeBundle(t *testing.T, tamper bool) (bundle, key string) {
	t.Helper()
	skey, vkey, err := certs.NewLogKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := translog.NewSigner(skey, vkey)
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := translog.NewTree(0, nil)
	var leaves []translog.BundleLine
	var records []translog.BundleLine
	for i := range uint64(2) {
		d := store.Decision{ID: "dec_" + string(rune('a'+i)), Time: time.Unix(int64(i), 0), Subject: "alice@example.com", Input: json.RawMessage(`{}`), Result: json.RawMessage(`{}`)}
		canonical, leaf, _ := translog.RecordLeaf(d)
		sig, _ := signer.SignRecord(canonical)
		_, _ = tree.Append(leaf)
		if tamper && i == 1 {
			d.Allow = true
		}
		leaves = append(leaves, translog.BundleLine{Leaf: &translog.BundleLeaf{Index: i, ID: d.ID, Hash: leaf}})
		records = append(records, translog.BundleLine{Record: &translog.BundleRecord{Index: &i, Signature: sig, Decision: d}})
	}
	root, _ := tree.Root()
	cp, _ := signer.SignCheckpoint(2, root)
	var buf bytes.Buffer
	w := translog.NewBundleWriter(&buf)
	lines := append([]translog.BundleLine{{Header: &translog.BundleHeader{Origin: certs.LogOrigin, Size: 2, To: 2}}, {Checkpoint: cp.Note}}, append(leaves, records...)...)
	for _, l := range lines {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Flush()
	dir := t.TempDir()
	bundle, key = filepath.Join(dir, "bundle.ndjson"), filepath.Join(dir, "log.pub")
	if err := os.WriteFile(bundle, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(vkey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(savedCheckpoint(bundle), []byte(cp.Note), 0o600); err != nil {
		t.Fatal(err)
	}
	return bundle, key
}

// savedCheckpoint is the file that holds the checkpoint of writeBundle's bundle.
func savedCheckpoint(bundle string) string {
	return filepath.Join(filepath.Dir(bundle), "checkpoint.txt")
}

func TestLogsVerifyExitsWithWhatItFound(t *testing.T) {
	good, goodKey := writeBundle(t, false)
	bad, badKey := writeBundle(t, true)
	goodBytes, _ := os.ReadFile(good)
	garbage := filepath.Join(t.TempDir(), "garbage.txt")
	if err := os.WriteFile(garbage, []byte("not a checkpoint\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, bundle, key string
		saved             []string
		stdin             string
		wantCode          int // 0: no error
		wantOut           string
	}{
		{"with its checkpoint saved", good, goodKey, []string{savedCheckpoint(good)}, "", 0, "2 checkpoints checked"},
		{"a saved checkpoint that is not one", good, goodKey, []string{savedCheckpoint(good), garbage}, "", exitVerifyUnreadable, ""},
		{"another log's saved checkpoint", good, goodKey, []string{savedCheckpoint(bad)}, "", exitVerifyUnreadable, ""},
		{"an untouched bundle", good, goodKey, nil, "", 0, "2 records verified"},
		{"from standard input", "-", goodKey, nil, string(goodBytes), 0, "2 records verified"},
		{"a tampered record", bad, badKey, nil, "", exitVerifyTampered, "altered"},
		{"another log's key", good, badKey, nil, "", exitVerifyTampered, "bad_checkpoint"},
		{"no key file", good, filepath.Join(t.TempDir(), "none.pub"), nil, "", exitVerifyUnreadable, ""},
		{"no bundle", filepath.Join(t.TempDir(), "none"), goodKey, nil, "", exitVerifyUnreadable, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runLogsVerify(c.bundle, c.key, c.saved, false, strings.NewReader(c.stdin), &out)
			var ve *verifyError
			switch {
			case c.wantCode == 0 && err != nil:
				t.Fatalf("verify = %v\n%s", err, out.String())
			case c.wantCode != 0 && (!errors.As(err, &ve) || ve.code != c.wantCode):
				t.Fatalf("verify = %v, want exit code %d\n%s", err, c.wantCode, out.String())
			}
			if !strings.Contains(out.String(), c.wantOut) {
				t.Fatalf("output %q lacks %q", out.String(), c.wantOut)
			}
		})
	}
}
