package translog

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
)

// TestLeafChecksTheRecordMACThenTheSignature: a record with a valid signature is logged as
// signed whether its MAC is valid, missing, or made with another key; a record altered after
// signing, or whose signature was replaced, is logged as unsigned even with its old MAC; a MAC
// that a database-only attacker cannot make (another log key's) signs nothing, and a valid MAC
// is taken without checking the signature.
func TestLeafChecksTheRecordMACThenTheSignature(t *testing.T) {
	t.Parallel()
	signer, other := newSigner(t), newSigner(t)
	record := func() store.Decision {
		return store.Decision{ID: "dec_1", Time: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Path: "connect",
			Subject: "alice@example.com", HostName: "db-1", Allow: true, Reasons: []string{"ok"}, Input: json.RawMessage(`{"a":1}`)}
	}
	signed := func(s *Signer) store.Decision {
		d := record()
		leaf, err := s.SignDecision(&d)
		if _, want, _ := RecordLeaf(d); err != nil || !bytes.Equal(leaf, want) {
			t.Fatalf("SignDecision = %x, %v; want the signed leaf %x", leaf, err, want)
		}
		return d
	}
	for _, tc := range []struct {
		name       string
		change     func(d *store.Decision)
		wantSigned bool
	}{
		{"signature and MAC", func(*store.Decision) {}, true},
		{"signature, no MAC (committed before MACs)", func(d *store.Decision) { d.LogMAC = nil }, true},
		{"signature, a MAC of another key", func(d *store.Decision) { d.LogMAC = signed(other).LogMAC }, true},
		{"signature, a truncated MAC", func(d *store.Decision) { d.LogMAC = d.LogMAC[:16] }, true},
		{"altered after signing, MAC kept", func(d *store.Decision) { d.Allow = false }, false},
		{"signature replaced by another key's, MAC kept", func(d *store.Decision) { d.LogSig = signed(other).LogSig }, false},
		{"signed and MACed with another key", func(d *store.Decision) { o := signed(other); d.LogSig, d.LogMAC = o.LogSig, o.LogMAC }, false},
		{"no signature, MAC kept", func(d *store.Decision) { d.LogSig = nil }, false},
		// The MAC alone vouches (no signature check): only a holder of the log key can make
		// it, and such a holder could as well sign the record.
		{"the log key's MAC over a bad signature", func(d *store.Decision) {
			canonical, _ := Canonical(*d)
			d.LogSig = bytes.Repeat([]byte{1}, len(d.LogSig))
			d.LogMAC = signer.RecordMAC(canonical, d.LogSig)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := signed(signer)
			tc.change(&d)
			leaf, ok, err := signer.Leaf(d)
			if err != nil {
				t.Fatal(err)
			}
			canonical, err := Canonical(d)
			if err != nil {
				t.Fatal(err)
			}
			want := UnsignedLeafHash(canonical)
			if tc.wantSigned {
				want = LeafHash(canonical)
			}
			if ok != tc.wantSigned || !bytes.Equal(leaf, want) {
				t.Fatalf("signed = %v, want %v (leaf %x, want %x)", ok, tc.wantSigned, leaf, want)
			}
		})
	}
}

// TestTheRecordMACBindsTheEncodingAndTheSignature: the MAC changes with either input, and the
// encoding's length is framed so that bytes cannot move from one to the other.
func TestTheRecordMACBindsTheEncodingAndTheSignature(t *testing.T) {
	t.Parallel()
	s := newSigner(t)
	base := s.RecordMAC([]byte(`{"a":1}`), []byte("sig"))
	for name, mac := range map[string][]byte{
		"encoding changed":  s.RecordMAC([]byte(`{"a":2}`), []byte("sig")),
		"signature changed": s.RecordMAC([]byte(`{"a":1}`), []byte("sih")),
		"a byte moved":      s.RecordMAC([]byte(`{"a":1}s`), []byte("ig")),
		"another key":       newSigner(t).RecordMAC([]byte(`{"a":1}`), []byte("sig")),
	} {
		if bytes.Equal(mac, base) {
			t.Errorf("%s: the same MAC", name)
		}
	}
	if !bytes.Equal(base, s.RecordMAC([]byte(`{"a":1}`), []byte("sig"))) {
		t.Error("the MAC of the same record differs")
	}
}

func newSigner(t *testing.T) *Signer {
	t.Helper()
	skey, vkey, err := certs.NewLogKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey, vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
