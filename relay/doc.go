// Package relay implements the Portcullis Connection Server (CS) and the client both session
// endpoints use to reach it.
//
// Neither a Guest nor a Host accepts inbound connections: both dial out to a Connection Server
// that the Connection Manager chose for the session, each presenting its half of the session
// (a signed ticket from package ticket, one for the "guest" role and one for the "host" role of
// the same session id). The Connection Server verifies each ticket (signature, audience = this
// server, role, validity window, single use), holds the first half until the second arrives,
// then splices the two connections (TLS, TCP for plain legs, or tunnels of the HTTP fallback)
// byte for byte until both sides are done. The Guest and the Host run SSH end to end through the splice, so the
// relay only ever carries ciphertext of the session.
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
// Plain legs (the fast encryption level): an endpoint at access.LevelFast sends a version 2
// hello with flagPlainLegs; the CS refuses it (access.ErrPlainLegsRefused) unless its ticket's
// minimum level is fast. When both halves asked and both came over TLS on TCP, framePaired
// carries pairedPlain; each endpoint answers with plainAck on the TCP connection under its
// TLS, and the session stream then travels on TCP alone, spliced by the kernel (plain.go).
// Otherwise both legs keep TLS. The stream is SSH, end-to-end encrypted and authenticated
// between Guest and Host either way; what plain legs give up is the hop-by-hop layer (see
// docs/encryption.md).
//
// Steady state:
//
//   - after framePaired every byte in either direction is the session stream, copied verbatim
//     to the other half
//   - when one half finishes sending (TLS close_notify), the CS half-closes the other half's
//     write side; the session ends when both directions are done, or when either half fails
//
// Transports: the CS serves TLS over TCP (port 1970) with Serve on a TLS listener, and any other
// transport that yields net.Conns: the HTTP/1.1 fallback of sub-package relayhttp is such a
// listener. A connection that has a Transport() string method names its transport in the
// session's reports ("http"); others are "tcp". One that has an Authenticated() method is told
// when its half's ticket verified, so that it may hold more for it from then on (relayhttp
// holds no more than a hello for a half-open tunnel).
//
// Hardening: a connection must complete its handshake within HandshakeTimeout. Until its hello
// is read it holds a place among the handshakes, which are bounded in total (MaxHandshakes) and
// per source address (MaxHandshakesPerSource; an IPv4 address or an IPv6 /64: a NAT or a proxy
// is one source). A newcomer is never turned away at the door: at a bound it takes the place of
// the handshake that has gone longest without progress (accepted, TLS done, and over the HTTP
// fallback each request's bytes), of its own source when that source is at its bound, else of
// the source that holds the most; before it goes one that finished TLS and has owed its hello
// for over a second (a client sends it at once; a flood that makes the relay pay for TLS and
// then dribbles its hello goes first). So however many slow or half-open connections share a
// client's address, the client keeps its place while it makes progress (until
// MaxHandshakesPerSource newer ones arrive before its next step), and no source crowds out
// another. The displaced connection is refused with "source_busy" as soon as
// it can carry the refusal (at once when it owes its hello; when its TLS handshake completes,
// within a short linger, otherwise), so a slow client learns why; as many as MaxHandshakes are
// refused at a time, the rest closed at once. Each handshake holds at most one TLS record and
// one hello; waiting halves (MaxPending) and spliced sessions (MaxLive) are bounded: memory is
// bounded. Shutdown drains: listeners close, waiting halves are refused, live sessions finish
// up to its context's deadline. Metrics (NewMetrics) count live sessions, handshakes, bytes,
// refusals by reason and pairing latency for Prometheus.
//
// Single use survives a restart: the Verifier's replay cache (package ticket) records a ticket
// id on disk before the CS accepts the ticket, when the CS has a state directory.
//
// A session also ends when the CM orders it (Server.EndSession: a lock or a policy change) and
// when the maximum duration of the ticket's obligations runs out; the report then says why.
//
// Sub-packages: relayhttp is the HTTP/1.1 fallback transport (both ends); cmlink is the CS's
// link to the CM (registration and load reports, ticket keys, pairing and session-end reports,
// the CM's orders to end sessions, a tenant relay's enrollment).
//
// The package owns the handshake wire format, which refusals the CS sends when (the codes
// themselves are package access's: the ticket's, plus "pair_timeout", "duplicate_half",
// "overloaded", "shutting_down", "bad_hello" and "source_busy"), which connections hold a
// place in the handshake (admission.go), pairing, splicing, and the per-session byte
// counts and end reasons it reports (through OnPaired and OnSessionEnd; cmlink carries them to
// the CM).
//
// An idle session costs the relay only its two TLS connections: a splice direction that reads
// nothing for 5 s parks (idle.go), ending its goroutine and returning its copy buffer, and one
// epoll watch per Server (Linux; elsewhere directions keep their goroutines) restarts the copy
// when bytes arrive or the session is cut.
//
// The relay never parses the session stream: after framePaired it reads no more frames, and it
// never inspects, alters, stores or logs the bytes it carries (it holds at most one copy buffer
// of them per direction). It never splices a half whose ticket failed any check, never pairs two
// halves of the same role, never decides who may connect (the CM's policy did, and the ticket is
// its word: the relay and its sub-packages never link the policy engine), and holds no
// package-level mutable state.
package relay
