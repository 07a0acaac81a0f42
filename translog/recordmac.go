package translog

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/portcullis/portcullis/store"
)

// A record MAC shows that a record and its signature were committed by a holder of the log
// key, as the signature does, but is checked at an HMAC's cost (about a microsecond) instead of
// an Ed25519 verification's (about 50): the sequencer checks the records other replicas signed
// by their MAC, and falls back to the signature when the MAC is missing or wrong. Every replica
// holds the log key, so every replica can make and check MACs; someone with access to the
// database alone can make neither. Reviewers, who hold only the verifier key, check the
// signatures: the MAC never leaves the store.

// recordMACInfo names what the key derived from the log key is for (HKDF's info).
const recordMACInfo = "portcullis decision record MAC v1"

// recordMACKey derives the record MAC key from the text of the log's signing key.
func recordMACKey(skey string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, []byte(skey), nil, recordMACInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("translog: record MAC key: %w", err)
	}
	return k, nil
}

// SignDecision signs d as a replica commits it: it sets d.LogSig, the log key's signature of
// d's canonical encoding, and d.LogMAC, their record MAC, and returns d's leaf hash as a signed
// record.
func (s *Signer) SignDecision(d *store.Decision) (leaf []byte, err error) {
	canonical, leaf, err := RecordLeaf(*d)
	if err != nil {
		return nil, err
	}
	if d.LogSig, err = s.SignRecord(canonical); err != nil {
		return nil, err
	}
	d.LogMAC = s.RecordMAC(canonical, d.LogSig)
	return leaf, nil
}

// RecordMAC returns the record MAC of a record's canonical encoding and its signature.
func (s *Signer) RecordMAC(canonical, sig []byte) []byte {
	m := hmac.New(sha256.New, s.macKey)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(canonical)))
	m.Write(n[:])
	m.Write(canonical)
	m.Write(sig)
	return m.Sum(nil)
}

// validMAC reports whether mac is the record MAC of canonical and sig.
func (s *Signer) validMAC(canonical, sig, mac []byte) bool {
	return len(mac) == sha256.Size && hmac.Equal(mac, s.RecordMAC(canonical, sig))
}
