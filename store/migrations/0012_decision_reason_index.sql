-- Portcullis schema, version 12: an index for the decision log's reason filter.
-- The filter (DecisionFilter.Reason) is a case-insensitive substring match of the reasons
-- column's text; a B-tree cannot serve it, so without this index a rare reason read the whole
-- log. Each database gets a trigram index: a candidate set the query then checks with the same
-- LIKE or ILIKE as before, so the results do not change (store/reasonindex.go).

-- {{IF sqlite}}
-- SQLite: a dictionary of the distinct reasons texts (a policy words few reasons: they repeat
-- from record to record), an FTS5 table with the trigram tokenizer over the dictionary (its
-- case-folded trigrams), and the records of each text by time. A record costs a lookup of its
-- text and one B-tree entry; only a text not seen before is tokenized. Triggers keep the three
-- in step with decisions, in the statement and transaction that inserts the record; a record
-- whose reasons or time were changed is entered again (the stale entry only adds a candidate
-- that the LIKE drops). Entries are keyed by decision id, not by the decisions table's rowid,
-- which VACUUM may renumber.
CREATE TABLE decision_reason_texts (
    id       INTEGER PRIMARY KEY,
    reasons  TEXT NOT NULL UNIQUE
);
CREATE TABLE decision_reason_refs (
    text_id      INTEGER NOT NULL,
    decided_at   INTEGER NOT NULL,
    decision_id  TEXT NOT NULL,
    PRIMARY KEY (text_id, decided_at, decision_id)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE decision_reason_index USING fts5(
    reasons, content = 'decision_reason_texts', content_rowid = 'id', tokenize = 'trigram', columnsize = 0
);
CREATE TRIGGER decision_reason_texts_insert AFTER INSERT ON decision_reason_texts BEGIN
    INSERT INTO decision_reason_index (rowid, reasons) VALUES (new.id, new.reasons);
END;
CREATE TRIGGER decision_reasons_insert AFTER INSERT ON decisions BEGIN
    INSERT OR IGNORE INTO decision_reason_texts (reasons) VALUES (new.reasons);
    INSERT INTO decision_reason_refs (text_id, decided_at, decision_id)
        SELECT id, new.decided_at, new.id FROM decision_reason_texts WHERE reasons = new.reasons;
END;
CREATE TRIGGER decision_reasons_update AFTER UPDATE OF reasons, decided_at ON decisions BEGIN
    INSERT OR IGNORE INTO decision_reason_texts (reasons) VALUES (new.reasons);
    INSERT OR IGNORE INTO decision_reason_refs (text_id, decided_at, decision_id)
        SELECT id, new.decided_at, new.id FROM decision_reason_texts WHERE reasons = new.reasons;
END;
-- The records already logged.
INSERT INTO decision_reason_texts (reasons) SELECT DISTINCT reasons FROM decisions;
INSERT INTO decision_reason_refs (text_id, decided_at, decision_id)
    SELECT t.id, d.decided_at, d.id FROM decisions d JOIN decision_reason_texts t ON t.reasons = d.reasons;
-- {{END}}

-- {{IF postgres}}
-- PostgreSQL: pg_trgm's GIN operator class. pg_trgm is a trusted extension: a user with the
-- CREATE privilege on the database may create it; otherwise an administrator creates it once
-- (CREATE EXTENSION pg_trgm) and the migration finds it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the decision log''s reason index needs the PostgreSQL extension pg_trgm, and user "%" may not create it in database "%": as the database owner or a superuser, run CREATE EXTENSION pg_trgm; in that database (or grant this user CREATE on it), then start again', current_user, current_database()
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
END
$$;
-- The GIN index gathers new entries in a pending list that every search reads through and that
-- is merged into the index when it outgrows gin_pending_list_limit (or at VACUUM): a limit of
-- 256 kB (the default is 4 MB) keeps that read short, the merge batched.
CREATE INDEX decisions_reasons_trgm ON decisions USING GIN (reasons gin_trgm_ops) WITH (gin_pending_list_limit = 256);
-- {{END}}

-- {{IF cockroach}}
-- CockroachDB has the trigram operator class built in.
CREATE INDEX decisions_reasons_trgm ON decisions USING GIN (reasons gin_trgm_ops);
-- {{END}}
