// Package rego holds Portcullis's default mDAC policy (package portcullis.authz), its tests and
// the JSON Schema of the policy input, embedded so that the binary needs no files on disk.
//
// It owns only policy text. It must never evaluate policy (package policy does) and never
// hold state: Files returns a read-only file system.
package rego
