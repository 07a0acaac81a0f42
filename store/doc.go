// Package store keeps the Connection Manager's state: enrollment tokens, Hosts (with their
// presence and heartbeat counters), relays (and the identities of tenants' private relays),
// sessions, locks, the record of ID tokens exchanged for Guest credentials, and the decision
// log, in SQLite (one file, zero set-up; the default) or in PostgreSQL / CockroachDB (shared by
// several CM replicas).
//
// One implementation over database/sql serves every database; the few differences (column
// types, time encoding, transactions and their retries, migration locking) live in dialect.go.
// The schema is a set of embedded, numbered migrations (migrations/NNNN_name.sql) that Open
// applies in order and records in schema_migrations; re-opening is a no-op, and several
// processes may open the same database at once.
//
// Every write runs in a transaction that either commits or changes nothing, and a method that
// returns nil has committed. The two writes of every connect, InsertDecision and CreateSession,
// are group-committed (groupcommit.go): concurrent calls of one of them share a transaction,
// each returns only once the transaction holding its record has committed, and a batch that
// fails is retried one record at a time, so that a bad record fails only its own call. On
// PostgreSQL a connect's read of its Host and locks, and a long-poll's mail collection, share a
// statement with the calls of their kind that arrive while one runs (connectlookup.go,
// collectgroup.go), each answered by a statement begun after it arrived. On SQLite the
// writers take turns through one connection (writegate.go), and a goroutine of the store
// checkpoints the write-ahead log beside them (checkpoint.go). Failures are reported with
// sentinel errors (ErrNotFound, ErrConflict, ErrTokenUsed, ErrTokenExpired,
// ErrReplayed, ErrInvalid) to be checked with errors.Is. Every write transaction is timed by
// what it does, with its wait for SQLite's writer, in Prometheus histograms the CM serves
// (Collectors, metrics.go).
//
// The store owns persistence only. It must never decide policy, never hold an enrollment
// secret (only its SHA-256), never log credentials or DSN passwords, and never alter or
// delete a decision record once written: the decision log is append-only.
package store
