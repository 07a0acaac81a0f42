// Package ticket mints and verifies Portcullis session tickets: short-lived, single-use,
// Ed25519-signed tokens that the Connection Manager hands to the Guest and to the Host of one
// session, and that the Connection Server (and the Host, for its own ticket) verify before any
// byte of the session is relayed.
//
// The package owns the ticket wire format (documented in ticket.go), the claims, the signing
// and verification keys (KeySet, with rotation; KeySource, which fetches the CM's published keys
// when a verifier needs them, at most once per interval however many unknown key ids it sees),
// the replay cache and its log on disk (format in replaylog.go: a used id is synced to disk
// before the ticket is accepted, so that it stays used across a restart or a crash, and whole
// segments are deleted as their ids expire), and the refusal reasons (sentinel errors and their
// wire codes).
//
// It must never: accept a ticket whose signature it has not checked, consume a ticket id before
// every other check passed (a forged ticket must not burn a real id), forget an unexpired ticket
// id to make room for a new one (a full replay cache refuses instead: fail closed), accept a
// ticket whose id its replay log could not record (it refuses instead: fail closed), or hold any
// package-level mutable state.
package ticket
