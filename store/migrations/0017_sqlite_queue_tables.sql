-- Portcullis schema, version 17: on SQLite, the two queues a connect writes keep fewer B-trees.
--
-- Every B-tree a transaction changes is at least one page that its commit writes to the WAL
-- and syncs, and a commit's pages are most of what a connect costs SQLite when connects do not
-- arrive together (at a few hundred a second a group commit carries two or three). A connect
-- writes a mail row (its Host's connection request) and a decision_outbox row, and its Host's
-- collection deletes the mail row in a later commit. Both tables were rowid tables with a TEXT
-- primary key: the rows in one B-tree, the key in another. WITHOUT ROWID keeps them in one,
-- ordered by the key, and mail loses mail_queued, which only the replicas sharing a
-- PostgreSQL or CockroachDB database read (a SQLite store has one CM: MailRecipientsSince is
-- never called on it). An allowed connect and its collection now change 5 fewer B-trees: 29.3
-- WAL pages instead of 34.3 when each commits alone (BenchmarkGrantAndCollectSQLite).
-- An outbox entry is two short keys; a request (about a kilobyte) is larger than the twentieth
-- of a page that suits WITHOUT ROWID best, but the table holds only the messages not yet
-- collected. PostgreSQL and CockroachDB keep their tables (their rows live in a heap either way):
-- for them this migration has no statement.

-- {{IF sqlite}}
CREATE TABLE mail_v17 (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    body        {{BYTES}} NOT NULL,
    queued_at   {{TIME}} NOT NULL,
    deliver_at  {{TIME}} NOT NULL,
    expires_at  {{TIME}} NOT NULL
) WITHOUT ROWID;
INSERT INTO mail_v17 (id, recipient, body, queued_at, deliver_at, expires_at)
    SELECT id, recipient, body, queued_at, deliver_at, expires_at FROM mail;
DROP TABLE mail;
ALTER TABLE mail_v17 RENAME TO mail;
CREATE INDEX mail_recipient_expiry ON mail (recipient, expires_at);
CREATE INDEX mail_expires ON mail (expires_at);

CREATE TABLE decision_outbox_v17 (
    decision_id TEXT PRIMARY KEY,
    decided_at  {{TIME}} NOT NULL
) WITHOUT ROWID;
INSERT INTO decision_outbox_v17 (decision_id, decided_at) SELECT decision_id, decided_at FROM decision_outbox;
DROP TABLE decision_outbox;
ALTER TABLE decision_outbox_v17 RENAME TO decision_outbox;
CREATE INDEX decision_outbox_time ON decision_outbox (decided_at, decision_id);
-- {{END}}
