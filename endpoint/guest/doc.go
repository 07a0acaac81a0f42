// Package guest is the Guest client: the end of a Portcullis session that the user runs. It
// asks the Connection Manager for a session, dials the Connection Server with its ticket and
// runs the end-to-end SSH client over the spliced stream.
//
//   - client.go: the Guest (Client): asking the CM (RequestGrant, Principal, with the
//     key-bound credential beside the ID token), and Connect, which asks, dials the relay and
//     runs the SSH handshake, failing over to another relay when one cannot be reached or
//     pairing fails there.
//   - handshake.go: the Guest's SSH handshake (Handshake): the Host key pinned by the CM, the
//     algorithms of the encryption level, the per-connection certificate; a refusal by the Host
//     comes back as an *endpoint.RefusedError. notices.go prints the Host's notices.
//   - shell.go, terminal*.go: running a command (Exec) or an interactive shell (Shell) on a
//     terminal like the local one, its size followed (SIGWINCH on Unix; polled on Windows).
//   - challenge.go: answering the Host's own questions (a host-local password) on the terminal.
//   - forward.go: local port forwarding (ListenForward, Forward), on the loopback address only.
//   - transfer.go: SFTP copies in both directions (Copier), never leaving a half-written file
//     under the final name.
//   - openssh.go: OpenSSH interoperability (OpenSSHProxy, run as ProxyCommand): the session key
//     goes to ssh-agent, the pinned Host key to known_hosts.
//   - credential.go: the key-bound credential (CredentialStore): an Ed25519 key that never
//     leaves the machine and the short-lived client certificate the CM issues for it in
//     exchange for a fresh ID token.
//
// It works alike on Linux, macOS and Windows (the *_unix.go and *_windows.go files hold what
// differs). It never imports endpoint/host or endpoint/hostauth: the Guest does not link the
// policy engine.
//
// What this package must never do: listen for connections on anything but the loopback
// address; write a key or token readable by anyone but its owner; trust a Host key other than
// the one pinned by the Connection Manager; or print text from the Host unsanitized.
package guest
