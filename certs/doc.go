// Package certs creates and loads Portcullis key material: the X.509 CA and the TLS
// certificates of the Connection Manager and the Connection Servers, the client certificates
// the CA issues (to enrolled Hosts, to every relay, naming its id, and to Guests' key-bound
// credentials), the Ed25519 ticket signing key, and the SSH user CA that signs Guests'
// per-session SSH certificates and that Hosts check them against (UserCertChecker).
//
// It owns the file names and formats in a key directory (see Init), and writes its files
// atomically with an explicit mode (WriteFileAtomic, WriteEd25519PrivateKey); other packages
// use WriteFileAtomic for their own files too.
//
// It must never: overwrite an existing key file unless asked to (InitOptions.Force), write a
// private key readable by anyone but its owner (mode 0600), log or return private key bytes in
// errors, or hold any package-level mutable state.
package certs
