// Package relay implements the Portcullis Connection Server (CS) and the client both session
// endpoints use to reach it.
//
// Neither a Guest nor a Host accepts inbound connections: both dial out to a Connection Server
// that the Connection Manager chose for the session, each presenting its half of the session
// (a signed ticket from package ticket, one for the "guest" role and one for the "host" role of
// the same session id). The Connection Server verifies each ticket (signature, audience = this
// server, role, validity window, single use), holds the first half until the second arrives,
// then splices the two TLS connections byte for byte until both sides are done. The Guest and
// the Host run SSH end to end through the splice, so the relay only ever carries ciphertext of
// the session.
//
// # Protocol flow
//
// Handshake (one TLS connection per half; frames are defined in protocol.go):
//
//   - the endpoint dials the CS over TLS
//   - the endpoint sends frameHello: magic, protocol version, its role, its ticket
//   - the CS verifies the ticket for that role and answers frameAccepted, or frameRefused with
//     a reason code and closes
//   - when the other half of the session is present, the CS sends framePaired to both halves;
//     if it does not arrive within the pairing timeout the CS sends frameRefused
//     ("pair_timeout") and closes
//
// Steady state:
//
//   - after framePaired every byte in either direction is the session stream, copied verbatim
//     to the other half
//   - when one half finishes sending (TLS close_notify), the CS half-closes the other half's
//     write side; the session ends when both directions are done, or when either half fails
//
// The package owns the handshake wire format, the refusal codes of the relay (the ticket codes
// of package ticket plus "pair_timeout", "duplicate_half", "overloaded", "shutting_down" and
// "bad_hello"), pairing, splicing and the per-session byte counts reported to the CM.
//
// The relay never parses the session stream: after framePaired it reads no more frames, and it
// never inspects, alters, stores or logs the bytes it carries (it holds at most one copy buffer
// of them per direction). It never splices a half whose ticket failed any check, never pairs two
// halves of the same role, and holds no package-level mutable state.
package relay
