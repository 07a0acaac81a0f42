// Package hostauth holds the Host-side authorization schemes: after the end-to-end SSH channel is
// up and the Connection Manager's certificate for this very session checked ("central", done by
// package endpoint/host and always first), the Host's owner has the last word through an ordered
// chain of schemes, every one of which must allow:
//
//   - allowlist: users or groups named in the certificate;
//   - confirm:   the Host's local user accepts within a timeout, through a local unix socket
//     that a desktop notifier or `portcullis host confirm` answers; no answer denies;
//   - password:  a host-local logon and password asked over the encrypted channel
//     (keyboard-interactive), checked against argon2id hashes in a host-local file; failures
//     lock a (user, logon) or, from all users together, a logon, and the locks persist in the
//     Host's state dir;
//   - rego:      a host-local Rego policy evaluated on the Host with the Guest's claims.
//
// A Scheme is one method, like http.Handler. A refusal names the scheme and says why
// (*Refusal, errors.Is(err, access.ErrHostRefused)); the Host sends it to the Guest.
//
// What this package must never do: allow when a scheme errs or cannot decide (fail closed);
// listen on anything but the local confirm socket; keep or log a password.
package hostauth
