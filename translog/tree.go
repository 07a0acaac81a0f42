package translog

import (
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Node is one stored node of the tree: a leaf (level 0) or the root of a perfect subtree.
type Node struct {
	Level uint
	Index uint64
	Hash  []byte
}

// rangeFactory builds compact ranges with RFC 6962 hashing.
func rangeFactory() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
}

// Tree appends leaves to a log of a known size, reporting the nodes to store.
type Tree struct {
	r *compact.Range
}

// NewTree resumes a tree of size leaves from its compact range: the hashes of the nodes that
// CompactNodes(size) names, in that order.
func NewTree(size uint64, hashes [][]byte) (*Tree, error) {
	r, err := rangeFactory().NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("translog: resume tree of size %d: %w", size, err)
	}
	return &Tree{r: r}, nil
}

// CompactNodes names the nodes whose hashes resume a tree of size leaves.
func CompactNodes(size uint64) []Node {
	ids := compact.RangeNodes(0, size, nil)
	out := make([]Node, len(ids))
	for i, id := range ids {
		out[i] = Node{Level: id.Level, Index: id.Index}
	}
	return out
}

// Append adds a leaf hash and returns the nodes it completes (the leaf among them).
func (t *Tree) Append(leaf []byte) ([]Node, error) {
	var nodes []Node
	err := t.r.Append(leaf, func(id compact.NodeID, hash []byte) {
		nodes = append(nodes, Node{Level: id.Level, Index: id.Index, Hash: hash})
	})
	if err != nil {
		return nil, fmt.Errorf("translog: append: %w", err)
	}
	return nodes, nil
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.r.End() }

// Root is the tree's root hash (the empty tree's for none).
func (t *Tree) Root() ([]byte, error) {
	if t.r.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	root, err := t.r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("translog: root: %w", err)
	}
	return root, nil
}

// ProofNodes names the stored nodes an inclusion proof (of leaf index in a tree of size) or a
// consistency proof (from size1 to size2) is built from; BuildProof makes the proof of their
// hashes.
type ProofNodes struct{ n proof.Nodes }

// InclusionNodes names the nodes of the inclusion proof of leaf index in a tree of size.
func InclusionNodes(index, size uint64) (ProofNodes, []Node, error) {
	n, err := proof.Inclusion(index, size)
	return proofNodes(n, err)
}

// ConsistencyNodes names the nodes of the consistency proof from size1 to size2.
func ConsistencyNodes(size1, size2 uint64) (ProofNodes, []Node, error) {
	n, err := proof.Consistency(size1, size2)
	return proofNodes(n, err)
}

func proofNodes(n proof.Nodes, err error) (ProofNodes, []Node, error) {
	if err != nil {
		return ProofNodes{}, nil, fmt.Errorf("translog: proof: %w", err)
	}
	out := make([]Node, len(n.IDs))
	for i, id := range n.IDs {
		out[i] = Node{Level: id.Level, Index: id.Index}
	}
	return ProofNodes{n: n}, out, nil
}

// BuildProof makes the proof from the hashes of the nodes it named, in order.
func (p ProofNodes) BuildProof(hashes [][]byte) ([][]byte, error) {
	out, err := p.n.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("translog: proof: %w", err)
	}
	return out, nil
}

// VerifyInclusion checks that leaf is at index in the tree of size whose root is root.
func VerifyInclusion(index, size uint64, leaf []byte, pr [][]byte, root []byte) error {
	return proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, pr, root)
}

// VerifyConsistency checks that the tree of size2 with root2 extends the one of size1 with
// root1.
func VerifyConsistency(size1, size2 uint64, pr [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, pr, root1, root2)
}
