package translog

import (
	"encoding/json"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/portcullis/portcullis/store"
)

// canonicalRecord is the encoding of a decision record that the log signs and hashes: every
// field of the record as stored, in a fixed order, times in microseconds, absent lists and
// maps as empty ones.
type canonicalRecord struct {
	ID       string            `json:"id"`
	Time     int64             `json:"time_us"`
	Path     string            `json:"path"`
	Subject  string            `json:"subject"`
	HostID   string            `json:"host_id"`
	HostName string            `json:"host_name"`
	Allow    bool              `json:"allow"`
	Reasons  []string          `json:"reasons"`
	Input    json.RawMessage   `json:"input"`
	Result   json.RawMessage   `json:"result"`
	Revision string            `json:"revision"`
	EvalNS   int64             `json:"eval_ns"`
	Labels   map[string]string `json:"labels"`
	// OPA's event fields (store.Decision).
	Erased      []string          `json:"erased"`
	Masked      []string          `json:"masked"`
	Bundles     map[string]string `json:"bundles"`
	RequestedBy string            `json:"requested_by"`
	ReqID       uint64            `json:"req_id"`
}

// Canonical returns the record's canonical encoding: what SignRecord signs and LeafHash hashes.
func Canonical(d store.Decision) ([]byte, error) {
	c := canonicalRecord{
		ID: d.ID, Time: d.Time.UTC().UnixMicro(), Path: d.Path, Subject: d.Subject, HostID: d.HostID,
		HostName: d.HostName, Allow: d.Allow, Reasons: d.Reasons, Input: d.Input, Result: d.Result,
		Revision: d.Revision, EvalNS: d.EvalNS, Labels: d.Labels,
		Erased: d.Erased, Masked: d.Masked, Bundles: d.Bundles, RequestedBy: d.RequestedBy, ReqID: d.ReqID,
	}
	if c.Reasons == nil {
		c.Reasons = []string{}
	}
	for _, l := range []*[]string{&c.Erased, &c.Masked} {
		if *l == nil {
			*l = []string{}
		}
	}
	for _, m := range []*map[string]string{&c.Labels, &c.Bundles} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	if len(c.Input) == 0 {
		c.Input = json.RawMessage("null")
	}
	if len(c.Result) == 0 {
		c.Result = json.RawMessage("null")
	}
	b, err := json.Marshal(c) // compacts the raw documents, sorts the labels
	if err != nil {
		return nil, fmt.Errorf("translog: encode record %s: %w", d.ID, err)
	}
	return b, nil
}

// LeafHash is the RFC 6962 leaf hash of a record's canonical encoding: the leaf of a record
// the sequencer found signed by the log key.
func LeafHash(canonical []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(canonical) }

// unsignedMark ends the leaf data of a record the sequencer found not signed by the log key.
const unsignedMark = "\nunsigned"

// UnsignedLeafHash is the leaf hash of a record the sequencer found not signed by the log key:
// the log keeps it (nothing committed is dropped) and says so, and a verifier needs no
// signature check for the records logged as signed.
func UnsignedLeafHash(canonical []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(append(canonical[:len(canonical):len(canonical)], unsignedMark...))
}

// Leaf returns the leaf the sequencer appends for a record: its leaf hash, as signed or as
// unsigned after checking its signature (d.LogSig) against the log key, by the record MAC
// (d.LogMAC) when that is valid, else by the signature itself.
func (s *Signer) Leaf(d store.Decision) (leaf []byte, signed bool, err error) {
	canonical, err := Canonical(d)
	if err != nil {
		return nil, false, err
	}
	if len(d.LogSig) > 0 && (s.validMAC(canonical, d.LogSig, d.LogMAC) || s.v.Verify(canonical, d.LogSig)) {
		return LeafHash(canonical), true, nil
	}
	return UnsignedLeafHash(canonical), false, nil
}

// RecordLeaf returns the record's canonical encoding and its leaf hash as a signed record.
func RecordLeaf(d store.Decision) (canonical, leaf []byte, err error) {
	canonical, err = Canonical(d)
	if err != nil {
		return nil, nil, err
	}
	return canonical, LeafHash(canonical), nil
}
