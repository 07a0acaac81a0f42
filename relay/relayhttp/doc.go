// Package relayhttp carries the relay's ticket handshake and session stream over ordinary
// HTTP/1.1 requests, for Guests and Hosts whose network passes only web traffic through a
// proxy that forwards plain HTTP (no CONNECT, no Upgrade). It is the fallback of the TCP/TLS
// transport of package relay, as derphttp is for DERP.
//
// # Protocol flow
//
// A tunnel is one byte stream in each direction, cut into chunks numbered from 0, over which
// both ends run TLS (the CS's certificate, PinTLS: TLS 1.2, ECDHE, AES-256-GCM; see
// docs/encryption.md for why not TLS 1.3): the chunks carry TLS records, so a proxy on the way
// can neither read nor alter the stream, and the tunnel id alone is worth nothing to whoever
// sees it.
//
//   - the client sends POST /relay/v1/open with the 1B wire version; the CS answers the tunnel
//     id (32 hex digits).
//   - client→CS bytes: POST /relay/v1/send?s=ID&q=SEQ with a run of up to span chunks, SEQ
//     first, as frames (4B big-endian length of the chunk, then the chunk), streamed: each
//     chunk is written as soon as it is cut, and the body ends after span chunks or
//     streamLinger without one; 204 when the CS holds them all (it takes each as it arrives).
//     A failed run is sent again whole. Senders runs are in flight at once; the CS reorders
//     chunks by number within a window.
//   - CS→client bytes: GET /relay/v1/recv?s=ID&q=SEQ&n=N&a=ACK asks for up to N (≤ span)
//     chunks from SEQ on: 200 streams them as frames, each as soon as it is due, ending after N
//     or streamLinger after the last when nothing more came; 204 when nothing came within the
//     hold time (the client asks again, backing off while idle); 410 after the end of the
//     stream. ACK says every chunk below it arrived, so the CS may forget them; until then it
//     sends a chunk asked for again. A client keeps Receivers such requests in flight, each
//     for its own run of span chunks, so that one is waiting while another streams.
//   - HEAD /relay/v1/ping answers 204: the cheap probe Guests and Hosts time for relay choice.
//
// A chunk is 1B flags (0x01 fin: the sender finished sending) + up to MaxChunkData bytes of
// the TLS stream. Every request is safe to repeat, and says so (Idempotency-Key), so that a
// proxy that closes kept-alive connections unannounced (tinyproxy) costs no failed request.
// docs/http-fallback.md describes the protocol for operators.
//
// Inside the tunnel's TLS run, unchanged, the relay handshake (hello with the ticket, accepted,
// paired or refused) and then the session stream, which is SSH end to end; the Server is a
// net.Listener whose connections (Conn: TLS over the tunnel) a relay.Server serves like TLS
// connections from its TCP port.
//
// A tunnel whose half the relay has not authenticated yet (half-open) holds at most a hello's
// worth of inbound bytes, in order (preAuthBytes; a chunk beyond is answered 409), and as many
// long-polls as a client makes (Receivers; one more is answered 204 at once), until the relay
// verified the ticket, after which the full window applies. Behind a shared proxy
// every client's tunnel comes from the proxy's address: half-open tunnels are the relay's
// handshakes, so the relay's fair admission (a newcomer takes the place of the one longest
// without progress; see package relay) keeps one slow client behind the proxy from locking out
// the others, and the displaced tunnel reads the refusal "source_busy". The tunnels are bounded
// (Server.MaxTunnels): at the bound, ended tunnels nobody fetches from make room, and an open
// that finds none is refused. A refused open is answered with the refusal's code as its body
// and the code's HTTP status, and Open returns it as a *relay.RefusedError, as the relay's
// frameRefused would be. Each tunnel's buffering is bounded (window chunks each way), so memory
// is bounded too.
//
// This package owns the tunnel wire format and its limits. It never parses the stream it
// carries, leaves the stream's protection to standard TLS, and holds no package-level
// mutable state.
package relayhttp
