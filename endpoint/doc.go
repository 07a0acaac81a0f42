// Package endpoint holds what the two ends of a Portcullis session share. The Host agent
// (package endpoint/host) runs on the controlled device and the Guest client (package
// endpoint/guest) runs on the user's; both only ever dial out (to the Connection Manager and to
// a Connection Server), and the relayed byte stream between them carries SSH
// (golang.org/x/crypto/ssh) end to end, so the Connection Server that splices it never sees
// plaintext. Host-side authorization schemes are package endpoint/hostauth.
//
// This package owns what both ends must agree on:
//
//   - crypto.go: the SSH algorithm set of each encryption level (access.LevelVeryHigh, ...);
//     both ends configure SSH from the same table (Algorithms).
//   - relaydial.go: reaching a Connection Server (RelayDialer): TCP/TLS first, then the HTTP
//     fallback of relay/relayhttp (through HTTP_PROXY), as preferred_protocol says; the latency
//     probes to candidate relays that the Host reports in its heartbeats and the Guest in its
//     connect request; and which dial failures are worth another relay (RetryElsewhere).
//   - refusal.go: the refusal line, the wire format in which the Host tells the Guest why it
//     refused (an access.Code and a message; RefusalLine, ParseRefusal, *RefusedError), and
//     Sanitize, which makes any text from the Host safe to print.
//   - notice.go: the notices the Host sends during a session (ExpiryWarningRequest before the
//     maximum duration, EndNoticeRequest when it ends the session) and their payloads.
//   - limits.go: HandshakeTimeout and ErrBadConfig, common to both ends' configurations.
//   - sftpwrite.go, sftpserve.go, sftppacket.go: how SFTP packets travel (WholeSFTPPackets,
//     SFTPServerPipe, NewSFTPServer) and the read size a Host announces in its answer to
//     SFTPPacketRequest, without which a Guest keeps to SFTPPacketMax per request.
//
// It imports no role: neither endpoint/host nor endpoint/hostauth (and so not the policy
// engine), nor the identity provider client. What it must never do: accept a refusal code or
// notice it cannot bound (codes are lower-case words of at most 32 bytes; messages at most
// MaxRefusalBytes and stripped of control characters), or offer an algorithm outside a level.
package endpoint
