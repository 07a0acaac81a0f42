package translog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/portcullis/portcullis/store"
)

// An export bundle is NDJSON, one BundleLine per line, in this order: the header, the
// checkpoints, every leaf of the tree in index order, then the exported records and the
// window's bounds. With all the leaves, a verifier recomputes every root and proves each
// record's inclusion by itself; the records may be a window (Header.From to Header.To) of the
// log. A verifier refuses a line out of this order (FindingOrder): the roots are checked once,
// between the leaves and the records.
//
// A time window's bounds are the records logged just outside it, at positions From-1 and To
// (when the log has them): their leaves prove their decision times, decided before Since and
// at or after Until, so the window could not have been cut short to leave records out.

// BundleLine is one line of a bundle; exactly one field is set.
type BundleLine struct {
	Header     *BundleHeader `json:"header,omitempty"`
	Checkpoint string        `json:"checkpoint,omitempty"`
	Leaf       *BundleLeaf   `json:"leaf,omitempty"`
	Record     *BundleRecord `json:"record,omitempty"`
	// Bound is a record logged just outside a time window (at From-1 or To), not exported but
	// carried to prove where the window starts and ends.
	Bound *BundleRecord `json:"bound,omitempty"`
}

// BundleHeader describes a bundle.
type BundleHeader struct {
	// Origin is the log's name.
	Origin string `json:"origin"`
	// Size is the number of leaves the bundle carries (the latest checkpoint's size).
	Size uint64 `json:"size"`
	// From and To bound the indexes of the logged records exported: [From, To).
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
	// Since and Until are the time window asked for (zero: unbounded).
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// PendingTruncated is set when the bundle holds only the first of the window's records
	// not logged yet (the exporter's limit): the verifier reports the bundle incomplete.
	PendingTruncated bool `json:"pending_truncated,omitempty"`
}

// BundleLeaf is one leaf of the tree: the record logged at Index and its leaf hash.
type BundleLeaf struct {
	Index uint64 `json:"index"`
	ID    string `json:"id"`
	Hash  []byte `json:"hash"`
}

// BundleRecord is one decision record as stored, with its log index (nil while not yet
// logged) and the log key's signature of its canonical encoding.
type BundleRecord struct {
	Index     *uint64        `json:"index"`
	Signature []byte         `json:"signature"`
	Decision  store.Decision `json:"decision"`
}

// BundleWriter writes a bundle's lines.
type BundleWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewBundleWriter writes a bundle to w; call Flush at the end.
func NewBundleWriter(w io.Writer) *BundleWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &BundleWriter{w: bw, enc: json.NewEncoder(bw)}
}

// Write writes one line.
func (b *BundleWriter) Write(l BundleLine) error {
	if err := b.enc.Encode(l); err != nil {
		return fmt.Errorf("translog: write bundle: %w", err)
	}
	return nil
}

// Flush writes what is buffered.
func (b *BundleWriter) Flush() error {
	if err := b.w.Flush(); err != nil {
		return fmt.Errorf("translog: write bundle: %w", err)
	}
	return nil
}

// maxBundleLine bounds one line of a bundle (a record with its policy input).
const maxBundleLine = 16 << 20

// readBundle calls line for every line of the bundle in r.
func readBundle(r io.Reader, line func(n int, l BundleLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxBundleLine)
	for n := 1; sc.Scan(); n++ {
		var l BundleLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("translog: bundle line %d: %w", n, err)
		}
		if err := line(n, l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("translog: read bundle: %w", err)
	}
	return nil
}
