// Package certs creates and loads Portcullis key material: the X.509 CA and the TLS
// certificates of the Connection Manager and the Connection Server, client certificates for
// enrolled Hosts, the Ed25519 ticket signing key, and the SSH user CA that signs Guests'
// per-session SSH certificates.
//
// It owns the file names and formats in a key directory (see Init) and the one way to write
// them (WriteFileAtomic).
//
// It must never: overwrite an existing key file unless asked to (InitOptions.Force), write a
// private key readable by anyone but its owner (mode 0600), log or return private key bytes in
// errors, or hold any package-level mutable state.
package certs
