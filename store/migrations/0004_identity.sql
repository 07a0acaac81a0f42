-- Portcullis schema, version 4: key-bound Guest credentials and signed plain-HTTP heartbeats.

-- credential_grants remembers every ID token already exchanged for a Guest client
-- certificate (by the token's SHA-256) until the token expires, so that a token is
-- exchanged once only.
CREATE TABLE credential_grants (
    token_hash  {{BYTES}} PRIMARY KEY,
    subject     TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    granted_at  {{TIME}} NOT NULL,
    expires_at  {{TIME}} NOT NULL
);

CREATE INDEX credential_grants_expiry ON credential_grants (expires_at);

-- heartbeat_counter is the highest counter of a signed plain-HTTP heartbeat accepted from
-- the host; a signed heartbeat must carry a larger one.
ALTER TABLE hosts ADD COLUMN heartbeat_counter BIGINT NOT NULL DEFAULT 0;
