package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// TestSignedLeavesLogOnlyTheRecordThisReplicaSignedAsSigned: a record read back exactly as
// this replica signed it is logged as signed without a signature check; one altered in the
// store after signing, or forgotten, is logged as its signature says (signed only with a valid
// one).
func TestSignedLeavesLogOnlyTheRecordThisReplicaSignedAsSigned(t *testing.T) {
	t.Parallel()
	skey, vkey, err := certs.NewLogKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := translog.NewSigner(skey, vkey)
	if err != nil {
		t.Fatal(err)
	}
	record := func() store.Decision {
		return store.Decision{ID: "dec_1", Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), Path: "portcullis/authz/decision",
			Subject: "alice@example.com", HostName: "db-1", Allow: true, Reasons: []string{}, Input: json.RawMessage(`{"a":1}`)}
	}
	for _, tc := range []struct {
		name string
		// readBack changes the record between signing and sequencing, as the store returns it.
		readBack   func(d *store.Decision)
		forget     bool
		wantSigned bool
	}{
		{"read back as signed", func(*store.Decision) {}, false, true},
		{"read back as signed, its signature column wiped", func(d *store.Decision) { d.LogSig = nil }, false, true},
		{"altered after signing", func(d *store.Decision) { d.Allow = false }, false, false},
		{"altered, its signature column wiped", func(d *store.Decision) { d.Subject, d.LogSig = "mallory@example.com", nil }, false, false},
		{"forgotten (its commit failed), signature intact", func(*store.Decision) {}, true, true},
		{"forgotten, signature wiped", func(d *store.Decision) { d.LogSig = nil }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l signedLeaves
			d := record()
			canonical, leaf, err := translog.RecordLeaf(d)
			if err != nil {
				t.Fatal(err)
			}
			if d.LogSig, err = signer.SignRecord(canonical); err != nil {
				t.Fatal(err)
			}
			l.remember(d.ID, leaf)
			if tc.forget {
				l.forget(d.ID)
			}
			tc.readBack(&d)
			got, signed, err := l.leaf(signer, d)
			if err != nil {
				t.Fatal(err)
			}
			want, wantSigned, err := signer.Leaf(d)
			if tc.wantSigned && !tc.forget && len(d.LogSig) == 0 {
				want, wantSigned = leaf, true // the signer alone would not know the record
			}
			if signed != tc.wantSigned || wantSigned != tc.wantSigned || !bytes.Equal(got, want) || err != nil {
				t.Errorf("signed = %v, want %v; leaf %x, want %x", signed, tc.wantSigned, got, want)
			}
			if _, ok := l.take(d.ID); ok {
				t.Error("the leaf is still remembered after the sequencer took it")
			}
		})
	}
}

// TestSignedLeavesAreBounded: remembering more than maxSignedLeaves forgets the older ones
// rather than growing without bound.
func TestSignedLeavesAreBounded(t *testing.T) {
	t.Parallel()
	var l signedLeaves
	for i := range maxSignedLeaves + 1 {
		l.remember(strconv.Itoa(i), []byte{1})
	}
	if n := len(l.leaves); n > maxSignedLeaves {
		t.Fatalf("%d leaves remembered, at most %d", n, maxSignedLeaves)
	}
}
