package translog

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of the tree: its size and root hash.
type Checkpoint struct {
	// Size is the number of records in the tree.
	Size uint64
	// Root is the tree's RFC 6962 root hash.
	Root []byte
	// Note is the signed note (C2SP tlog-checkpoint), as published.
	Note string
}

// SignCheckpoint signs the checkpoint of a tree of size records whose root is root.
func (s *Signer) SignCheckpoint(size uint64, root []byte) (Checkpoint, error) {
	body := log.Checkpoint{Origin: s.Origin(), Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, s.s)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: sign checkpoint: %w", err)
	}
	return Checkpoint{Size: size, Root: root, Note: string(signed)}, nil
}

// OpenCheckpoint verifies a signed checkpoint note and returns what it states; an error when
// the log key did not sign it, or it is not a checkpoint of this log.
func (v *Verifier) OpenCheckpoint(text string) (Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint([]byte(text), v.Origin(), v.v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint: %w", err)
	}
	return Checkpoint{Size: cp.Size, Root: bytes.Clone(cp.Hash), Note: text}, nil
}
