-- Portcullis schema, version 8: the transparency log over the decision records.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.

-- log_sig is the log key's signature of the record's canonical encoding, made before it is
-- committed; log_index its position in the log, assigned after commit by the sequencer (the
-- holder of the singleton lease), in order, without gaps.
ALTER TABLE decisions ADD COLUMN log_sig {{BYTES}};
ALTER TABLE decisions ADD COLUMN log_index BIGINT;
CREATE UNIQUE INDEX decisions_log_index ON decisions (log_index);
CREATE INDEX decisions_unlogged ON decisions (decided_at, id) WHERE log_index IS NULL;

-- The leaves of the tree, kept apart from the records they hash: which record was logged at
-- each position, and its leaf hash then.
CREATE TABLE log_leaves (
    idx          BIGINT PRIMARY KEY,
    decision_id  TEXT NOT NULL UNIQUE,
    decided_at   {{TIME}} NOT NULL,
    leaf_hash    {{BYTES}} NOT NULL
);
CREATE INDEX log_leaves_time ON log_leaves (decided_at, idx);

-- Every perfect subtree's root (leaves at lvl 0), from which proofs are built.
CREATE TABLE log_nodes (
    lvl   INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  {{BYTES}} NOT NULL,
    PRIMARY KEY (lvl, idx)
);

-- The signed checkpoints (C2SP tlog-checkpoint notes), one per tree size published.
CREATE TABLE log_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       {{BYTES}} NOT NULL,
    note       TEXT NOT NULL,
    signed_at  {{TIME}} NOT NULL
);
