-- Portcullis schema, version 11: the web console's signed-in sessions, shared by CM replicas.
-- Column types {{TIME}} and {{BYTES}} are expanded per database by dialect.go.

-- A console session is one signed-in browser. token_hash is the SHA-256 of the session
-- cookie's random token (the token itself is never stored); claims are the verified ID
-- token's claims as JSON, which the console acts on behalf of until expires_at (the ID
-- token's expiry). Signing out deletes the row, so every replica refuses the cookie at once.
CREATE TABLE console_sessions (
    token_hash  {{BYTES}} PRIMARY KEY,
    subject     TEXT NOT NULL,
    claims      TEXT NOT NULL,
    created_at  {{TIME}} NOT NULL,
    expires_at  {{TIME}} NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
