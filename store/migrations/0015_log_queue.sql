-- Portcullis schema, version 15: the sequencer's queue, so that a record is written once.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.
--
-- Until version 14 the sequencer found the records not yet logged by a NULL log_index and then
-- wrote each record's position into its decisions row: a second write of every record (on
-- SQLite about half the sequencer's work; on PostgreSQL a new row version and an entry in
-- every index of decisions). A record's position is already its log_leaves row (decision_id is
-- unique there), so decisions loses log_index, and log_queue lists the committed records not
-- yet logged: a row is inserted in the transaction that commits its record and deleted in the
-- transaction that logs it, as decision_outbox does for shipping.

-- {{IF sqlite}}
CREATE TABLE log_queue (
    decided_at   {{TIME}} NOT NULL,
    decision_id  TEXT NOT NULL,
    PRIMARY KEY (decided_at, decision_id)
) WITHOUT ROWID;
-- {{END}}
-- {{IF postgres,cockroach}}
CREATE TABLE log_queue (
    decided_at   {{TIME}} NOT NULL,
    decision_id  TEXT NOT NULL,
    PRIMARY KEY (decided_at, decision_id)
);
-- {{END}}

-- The records committed but not yet logged.
INSERT INTO log_queue (decided_at, decision_id) SELECT decided_at, id FROM decisions WHERE log_index IS NULL;

DROP INDEX decisions_unlogged;
DROP INDEX decisions_log_index;
ALTER TABLE decisions DROP COLUMN log_index;
