package gateway

import (
	"bytes"
	"sync"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// maxSignedLeaves bounds the leaf hashes signedLeaves remembers (about 2.5 MB): when it is
// reached (a sequencer far behind, or on another replica), they are all forgotten, and those
// records are checked by their signatures alone.
const maxSignedLeaves = 1 << 14

// signedLeaves remembers the leaf hash of every record this replica signed until its sequencer
// logs it. A record read back from the store whose canonical encoding hashes to the leaf
// remembered is the very record this replica signed: the sequencer logs it as signed without
// verifying its signature again (an Ed25519 verification per record, the larger half of the
// log's cost per connect). Any other record is verified by its signature, as before. The zero
// value is ready to use.
type signedLeaves struct {
	mu     sync.Mutex
	leaves map[string][]byte
}

// remember notes the leaf hash of a record this replica signed.
func (l *signedLeaves) remember(id string, leaf []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leaves == nil {
		l.leaves = map[string][]byte{}
	}
	if len(l.leaves) >= maxSignedLeaves {
		clear(l.leaves)
	}
	l.leaves[id] = leaf
}

// forget drops what remember noted for id (a record that did not commit).
func (l *signedLeaves) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.leaves, id)
}

// take returns and forgets the leaf hash remembered for id.
func (l *signedLeaves) take(id string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	leaf, ok := l.leaves[id]
	delete(l.leaves, id)
	return leaf, ok
}

// leaf is the leaf the sequencer appends for a record read back from the store: as signed
// when it is exactly the record this replica signed, else as signer.Leaf decides by its
// signature.
func (l *signedLeaves) leaf(signer *translog.Signer, d store.Decision) (leaf []byte, signed bool, err error) {
	if want, ok := l.take(d.ID); ok {
		_, got, err := translog.RecordLeaf(d)
		if err != nil {
			return nil, false, err
		}
		if bytes.Equal(got, want) {
			return got, true, nil
		}
	}
	return signer.Leaf(d)
}
