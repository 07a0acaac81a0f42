-- Portcullis schema, version 12: an index for the decision log's reason filter.
-- The filter (DecisionFilter.Reason) is a case-insensitive substring match of the reasons
-- column's text; a B-tree cannot serve it, so without this index a rare reason read the whole
-- log. Each database gets a trigram index: a candidate set the query then checks with the same
-- LIKE or ILIKE as before, so the results do not change (store/reasonindex.go).

-- {{IF sqlite}}
-- SQLite: an FTS5 table with the trigram tokenizer (case-folded trigrams of the reasons
-- text), keyed by decision id (rowids of decisions may change on VACUUM; ids do not). A
-- trigger indexes every new record in its own statement and transaction; a record whose
-- reasons were changed is indexed again (the stale row only adds a candidate the LIKE drops).
-- The records already logged are indexed here.
CREATE VIRTUAL TABLE decision_reasons USING fts5(
    reasons, decision_id UNINDEXED, tokenize = 'trigram', columnsize = 0
);
INSERT INTO decision_reasons (reasons, decision_id) SELECT reasons, id FROM decisions;
CREATE TRIGGER decision_reasons_insert AFTER INSERT ON decisions BEGIN
    INSERT INTO decision_reasons (reasons, decision_id) VALUES (new.reasons, new.id);
END;
CREATE TRIGGER decision_reasons_update AFTER UPDATE OF reasons ON decisions BEGIN
    INSERT INTO decision_reasons (reasons, decision_id) VALUES (new.reasons, new.id);
END;
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
-- {{END}}

-- {{IF postgres,cockroach}}
-- (CockroachDB has the trigram operator class built in.)
CREATE INDEX decisions_reasons_trgm ON decisions USING GIN (reasons gin_trgm_ops);
-- {{END}}
