// Package translog is the decision log's transparency log: the canonical encoding of a decision
// record, the log key that signs each record and the checkpoints, the RFC 6962 Merkle tree
// over the records in log order, the export bundle, and the offline verification that names
// every record altered, deleted, inserted or reordered after it was logged.
//
// The tree is github.com/transparency-dev/merkle's; checkpoints are C2SP tlog-checkpoint
// signed notes (github.com/transparency-dev/formats/log, golang.org/x/mod/sumdb/note).
package translog
