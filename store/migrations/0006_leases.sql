-- Portcullis schema, version 6: leases for singleton work shared by CM replicas.
-- Column types {{TIME}}, {{BYTES}} and {{BOOL}} are expanded per database by dialect.go.

-- A lease names work that one CM replica at a time does for the whole system (sweeps,
-- re-evaluation). holder is the replica's instance id; expires_at is on the database's clock.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  {{TIME}} NOT NULL
);
