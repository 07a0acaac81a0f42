package api

// The decision log's transparency log (package translog), for reviewers: GET, decided by the
// policy like every read of the decision log (action query_decisions).
const (
	// PathLogKey is the log's verifier key, as text (a signed-note verifier key).
	PathLogKey = "/v1/log/key"
	// PathLogCheckpoint is the latest signed checkpoint (LogCheckpoint).
	PathLogCheckpoint = "/v1/log/checkpoint"
	// PathLogInclusion is the inclusion proof of a record (?id=, optional ?size=):
	// InclusionProof.
	PathLogInclusion = "/v1/log/proof/inclusion"
	// PathLogConsistency is the consistency proof between two tree sizes (?from=&to=):
	// ConsistencyProof.
	PathLogConsistency = "/v1/log/proof/consistency"
	// PathLogExport is an export bundle (NDJSON, see translog.BundleLine) of the records decided
	// in [?since, ?until).
	PathLogExport = "/v1/log/export"
	// QueryID names a record; QueryFrom, QueryTo and QuerySize name tree sizes.
	QueryID   = "id"
	QueryFrom = "from"
	QueryTo   = "to"
	QuerySize = "size"
)

// LogCheckpoint is a signed checkpoint of the decision log.
type LogCheckpoint struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	// Note is the C2SP tlog-checkpoint signed note.
	Note string `json:"note"`
}

// InclusionProof proves that a record is in the tree of Size whose checkpoint is Checkpoint.
type InclusionProof struct {
	ID         string   `json:"id"`
	Index      uint64   `json:"index"`
	Size       uint64   `json:"size"`
	LeafHash   []byte   `json:"leaf_hash"`
	Proof      [][]byte `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
	// Signed is false when the sequencer logged the record as not signed by the log key (its
	// leaf is the unsigned form: the record was written behind the CM's back). A client
	// computes the leaf from the record itself rather than trusting LeafHash.
	Signed bool `json:"signed"`
}

// ConsistencyProof proves that the tree of To extends the tree of From.
type ConsistencyProof struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Proof [][]byte `json:"proof"`
}
