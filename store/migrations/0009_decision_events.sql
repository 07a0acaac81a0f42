-- Portcullis schema, version 9: decision records as OPA decision-log events, and their outbox.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.

-- decision_outbox lists the committed decision records not yet shipped to the decision-log
-- collector. A row is inserted in the transaction that commits its record and deleted once a
-- collector acknowledged the record, so the table is the shipping position that every replica
-- shares: nothing committed is skipped, whichever replica ships, across restarts and outages.
-- Records committed before this migration are queued too.
CREATE TABLE decision_outbox (
    decision_id TEXT PRIMARY KEY,
    decided_at  {{TIME}} NOT NULL
);
CREATE INDEX decision_outbox_time ON decision_outbox (decided_at, decision_id);
INSERT INTO decision_outbox (decision_id, decided_at) SELECT id, decided_at FROM decisions;

-- OPA's decision-log event fields: the JSON pointers data.system.log.mask erased (erased) and
-- replaced (masked), as JSON lists; the policy bundles as a JSON object of name to revision;
-- the client that asked (requested_by) and the CM's request number (req_id, 0 for none).
ALTER TABLE decisions ADD COLUMN erased TEXT NOT NULL DEFAULT '[]';
ALTER TABLE decisions ADD COLUMN masked TEXT NOT NULL DEFAULT '[]';
ALTER TABLE decisions ADD COLUMN bundles TEXT NOT NULL DEFAULT '{}';
ALTER TABLE decisions ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN req_id BIGINT NOT NULL DEFAULT 0;
