-- Portcullis schema, version 5: live sessions and locks.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.

ALTER TABLE sessions ADD COLUMN host_name TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN channels_opened BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_ended ON sessions (ended_at, id) WHERE ended_at IS NOT NULL;

-- Locks on a user, a host (by name) or a session: stored for audit, never deleted; an unlock
-- records who removed the lock and when.
CREATE TABLE locks (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  {{TIME}} NOT NULL,
    expires_at  {{TIME}},
    removed_by  TEXT NOT NULL,
    removed_at  {{TIME}}
);

CREATE INDEX locks_active ON locks (kind, target) WHERE removed_at IS NULL;
CREATE INDEX locks_created ON locks (created_at, id);
