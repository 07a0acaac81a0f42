// Package endpoint holds the two ends of a Portcullis session: the Host agent that runs on the
// controlled device and the Guest client that the user runs. Both ends only ever dial out (to the
// Connection Manager and to a Connection Server); the relayed byte stream between them carries
// SSH (golang.org/x/crypto/ssh) end to end, so the Connection Server that splices it never sees
// plaintext.
//
// This package owns the end-to-end SSH layer:
//
//   - crypto.go: the named encryption levels ("very_high", "high", "medium") and the SSH
//     algorithm set each one allows; both ends configure SSH from the same table.
//   - cert.go: the SSH user certificate the Connection Manager signs for the Guest's
//     per-connection key (certs.SignUserCert) and the checks the Host applies to it (certs.UserCertChecker).
//   - sshserver.go: the Host's SSH server for one relayed connection (ServeSSH): shell and exec
//     on a PTY or pipes, sftp, port forwarding, each only when the session's obligations allow it.
//   - sshclient.go: the Guest's SSH client (NewSSHClient, Exec, Shell) with the Host key pinned.
//   - authorize.go: the Host owner's chain of schemes (package hostauth) run after the
//     certificate check, keyboard-interactive when a scheme asks the Guest (challenge.go answers
//     on the Guest's terminal); account.go: the local account sessions run as.
//   - guest.go, forward.go, transfer.go, openssh.go: the Guest's commands — asking the CM
//     (Ask, Reachable), port forwarding (Forward), SFTP copies (Copier) and OpenSSH's
//     ProxyCommand (OpenSSHProxy).
//   - relaydial.go: reaching a Connection Server (RelayDialer): TCP/TLS first, then the HTTP
//     fallback of relay/relayhttp (through HTTP_PROXY), as preferred_protocol says; and the latency
//     probes to candidate relays that the Host reports in its heartbeats and the Guest in its
//     connect request. The Guest fails over to another relay when one cannot be reached or pairing
//     fails there.
//   - credential.go: the Guest's key-bound credential (CredentialStore): an Ed25519 key that
//     never leaves the machine and the short-lived client certificate the Connection Manager
//     issues for it in exchange for a fresh ID token; the CM requires it beside the token.
//   - host.go: the Host agent: enrolment, heartbeats (mTLS, or signed by the Host key over
//     plain HTTP with a time and a rising counter), renewal of its client certificate at two
//     thirds of its lifetime, the long-poll and one ServeSSH per session; a CM refusal
//     (disabled, deleted) stops it.
//   - livesessions.go: the Host's live sessions, so that the CM's order to end one (a lock, a
//     policy change) closes it, and its report of each end to the CM.
//   - expiry.go: the notice the Host sends the Guest shortly before the maximum duration ends.
//
// Refusals are sentinel errors (errors.Is) with a stable reason code (RefusalCode). The Host
// sends the code and a human message to the Guest, so both ends log and show the same reason.
//
// What this package must never do: listen for inbound network connections (the one listener is
// a Guest's port forward, on the loopback address only); write a key or token readable by
// anyone but its owner; accept a Guest key
// that is not a certificate from the Connection Manager's user CA for this very session; serve a
// channel the obligations do not allow; negotiate an algorithm outside the configured encryption
// level; or trust a Host key other than the one pinned by the Connection Manager.
package endpoint
