-- Connection Servers for the real internet (issue 6): the HTTP fallback address and key of
-- each relay, its capacity, relay enrollment tokens and the identities of tenants' relays.

ALTER TABLE relays ADD COLUMN http_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE relays ADD COLUMN http_key TEXT NOT NULL DEFAULT '';
ALTER TABLE relays ADD COLUMN max_sessions BIGINT NOT NULL DEFAULT 0;

-- kind is 'host' (a Host enrols with it) or 'relay' (a tenant's Connection Server does).
ALTER TABLE enrollment_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'host';

-- A tenant's private relay, enrolled once with a relay enrollment token.
CREATE TABLE relay_identities (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    cert_serial  TEXT NOT NULL,
    enrolled_at  {{TIME}} NOT NULL
);
