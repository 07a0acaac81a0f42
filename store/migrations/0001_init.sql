-- Portcullis schema, version 1.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.
-- JSON values (tags, labels, channels, reasons, policy input and result) are TEXT.

CREATE TABLE enrollment_tokens (
    id          TEXT PRIMARY KEY,
    hash        {{BYTES}} NOT NULL UNIQUE,
    tags        TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  {{TIME}} NOT NULL,
    expires_at  {{TIME}} NOT NULL,
    used_at     {{TIME}},
    used_by     TEXT NOT NULL
);

CREATE TABLE hosts (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    tenant       TEXT NOT NULL,
    os           TEXT NOT NULL,
    tags         TEXT NOT NULL,
    public_key   {{BYTES}},
    cert_serial  TEXT NOT NULL,
    disabled     {{BOOL}} NOT NULL,
    enrolled_at  {{TIME}} NOT NULL,
    last_seen    {{TIME}}
);

CREATE TABLE relays (
    id             TEXT PRIMARY KEY,
    addr           TEXT NOT NULL,
    region         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    private        {{BOOL}} NOT NULL,
    sessions       BIGINT NOT NULL,
    bytes_per_sec  BIGINT NOT NULL,
    healthy        {{BOOL}} NOT NULL,
    last_seen      {{TIME}}
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    decision_id  TEXT NOT NULL,
    subject      TEXT NOT NULL,
    host_id      TEXT NOT NULL,
    relay_id     TEXT NOT NULL,
    transport    TEXT NOT NULL,
    encryption   TEXT NOT NULL,
    channels     TEXT NOT NULL,
    started_at   {{TIME}} NOT NULL,
    ended_at     {{TIME}},
    bytes_up     BIGINT NOT NULL,
    bytes_down   BIGINT NOT NULL,
    end_reason   TEXT NOT NULL
);

CREATE INDEX sessions_started ON sessions (started_at, id);
CREATE INDEX sessions_subject_started ON sessions (subject, started_at, id);
CREATE INDEX sessions_host_started ON sessions (host_id, started_at, id);
CREATE INDEX sessions_live ON sessions (started_at, id) WHERE ended_at IS NULL;

-- The decision log: append-only.
CREATE TABLE decisions (
    id          TEXT PRIMARY KEY,
    decided_at  {{TIME}} NOT NULL,
    path        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    host_id     TEXT NOT NULL,
    host_name   TEXT NOT NULL,
    allow       {{BOOL}} NOT NULL,
    reasons     TEXT NOT NULL,
    input       TEXT NOT NULL,
    result      TEXT NOT NULL,
    revision    TEXT NOT NULL,
    eval_ns     BIGINT NOT NULL,
    labels      TEXT NOT NULL
);

CREATE INDEX decisions_time ON decisions (decided_at, id);
CREATE INDEX decisions_subject_time ON decisions (subject, decided_at, id);
CREATE INDEX decisions_host_time ON decisions (host_id, decided_at, id);
CREATE INDEX decisions_allow_time ON decisions (allow, decided_at, id);
