-- Portcullis schema, version 7: messages for the agents that poll the CM, shared by replicas.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.

-- mail holds what a CM replica has for a Host or a Connection Server (a connection request, an
-- order to end a session) until the recipient collects it on whichever replica it polls. A
-- message is collected once (the row is deleted as it is read), not before deliver_at and not
-- after expires_at; expired messages are discarded by the sweep.
CREATE TABLE mail (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    body        {{BYTES}} NOT NULL,
    queued_at   {{TIME}} NOT NULL,
    deliver_at  {{TIME}} NOT NULL,
    expires_at  {{TIME}} NOT NULL
);
CREATE INDEX mail_recipient ON mail (recipient, deliver_at);
CREATE INDEX mail_queued ON mail (queued_at);
CREATE INDEX mail_expires ON mail (expires_at);

-- A Host's latest relay latencies (JSON: relay id to milliseconds), written with last_seen in
-- batches, so that every replica chooses relays by the same measurements.
ALTER TABLE hosts ADD COLUMN relay_latencies TEXT;
