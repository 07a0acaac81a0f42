// Package rego holds Portcullis's default policy, embedded so that the binary needs no files on
// disk: the mDAC connection policy (package portcullis.authz), the policy of the Connection
// Manager's admin and auditor API (portcullis.api), the decision-log mask (system.log), the
// tests of each, and the JSON Schema of the policy input. README.md documents them.
//
// It owns only policy text. It must never evaluate policy (package policy does) and never
// hold state: Files returns a read-only file system.
package rego
