// Package store keeps the Connection Manager's state: enrollment tokens, hosts, relays,
// sessions and the decision log, in SQLite (one file, zero set-up; the default) or in
// PostgreSQL / CockroachDB (shared by several CM replicas).
//
// One implementation over database/sql serves every database; the few differences (column
// types, time encoding, transactions and their retries, migration locking) live in dialect.go.
// The schema is a set of embedded, numbered migrations (migrations/NNNN_name.sql) that Open
// applies in order and records in schema_migrations; re-opening is a no-op, and several
// processes may open the same database at once.
//
// Every write runs in a transaction that either commits or changes nothing, and a method that
// returns nil has committed. Failures are reported with sentinel errors (ErrNotFound,
// ErrConflict, ErrTokenUsed, ErrTokenExpired, ErrInvalid) to be checked with errors.Is.
//
// The store owns persistence only. It must never decide policy, never hold an enrollment
// secret (only its SHA-256), never log credentials or DSN passwords, and never alter or
// delete a decision record once written: the decision log is append-only.
package store
