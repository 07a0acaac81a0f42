// Package host is the Host agent: the end of a Portcullis session that runs on the controlled
// device, and the end-to-end SSH server each session reaches.
//
//   - agent.go, enroll.go, heartbeat.go, retry.go: the agent (Agent): enrolment, heartbeats
//     (mTLS, or signed by the Host key over plain HTTP with a time and a rising counter),
//     renewal of its client certificate at two thirds of its lifetime, the long-poll for
//     connection requests and one ServeSSH per session. Requests to the CM are retried with
//     exponential backoff (github.com/cenkalti/backoff/v5); a CM refusal (the Host disabled or
//     deleted) stops the agent. The state directory (holding the Host's key and the SSH user CA
//     it trusts) is made private to the agent's user (internal/privatedir) before use.
//   - defaults.go: each operating system's default shell and state directory (DefaultShell,
//     DefaultStateDir).
//   - hostticket.go: the check of each connection request's ticket before the Host acts on it,
//     as a relay checks it: signed by a key the CM publishes (ticket.KeySource, fetched over the
//     Host's mTLS client and again, at most once per interval, when a ticket names an unknown
//     key id), role host, audience the relay the Host is told to dial, valid now (the relay's
//     clock skew), for this Host's enrolled id and for the request's session. A request whose
//     ticket fails is refused (no relay is dialed), logged with its code and reported to the CM.
//   - live.go: the live sessions, so that the CM's order to end one (a lock, a policy change)
//     closes it, and the report of each end to the CM. notice.go warns the Guest before the
//     maximum duration and tells it why a session was ended.
//   - server.go: the SSH server for one relayed connection (ServeSSH): it authenticates the
//     Guest's certificate (certs.UserCertChecker) for this very session, then runs the Host
//     owner's schemes (authorize.go, package endpoint/hostauth), keyboard-interactive when a
//     scheme asks the Guest.
//   - grant.go: what the connection may do: the session's obligations narrowed by the
//     certificate's extensions.
//   - session.go, process*.go, account*.go: "session" channels: shell and exec on a terminal or
//     on pipes, and sftp, each only when the obligations allow it; programs run as the
//     configured Account in a fresh environment, in their own process group, and are killed
//     with the session.
//   - sftp.go: the sftp server (a program, or inside the agent) and the answer to the Guest's
//     global request endpoint.SFTPPacketRequest: how much file data it reads per request
//     (SSHConfig.SFTPReadMax); other global requests are answered false.
//   - forward.go: "direct-tcpip" channels to the obligations' forward targets.
//   - wire.go: the RFC 4254 request payloads and their bounds.
//
// Refusals are codes of package access; the Host sends each to the Guest as the refusal line
// (endpoint.RefusalLine), so both ends log and show the same reason.
//
// Running programs as another account, process groups, signals and terminals need Unix: on
// Windows the agent runs programs as its own user on pipes, can only kill them, and refuses a
// terminal, another account and other signals with a clear error.
//
// What this package must never do: listen for inbound network connections; act on a ticket
// (dial, serve its obligations, skip confirmation) whose signature, role, audience, time, host
// or session it has not checked; accept a Guest key
// that is not a certificate from the Connection Manager's user CA for this very session; serve
// a channel or a forward target the obligations do not allow; negotiate an algorithm outside
// the configured encryption level; or give a program the agent's own environment.
package host
