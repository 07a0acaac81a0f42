package relay

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

// ProtocolVersion is the handshake version of an endpoint that keeps TLS on its leg; it is
// bumped on any wire-incompatible change.
const ProtocolVersion = 1

// protocolVersionFlags is the version of a hello that carries a flags byte after the role: an
// endpoint at the fast level sends it to ask for a plain leg (flagPlainLegs). Endpoints send
// version 1 otherwise, so that they still reach a CS that reads only version 1.
const protocolVersionFlags = 2

// flagPlainLegs in a version 2 hello asks the CS to carry the session stream on this leg
// without TLS after pairing; no other flag is defined.
const flagPlainLegs = 0x01

// pairedPlain is framePaired's one-byte payload when the legs drop TLS: the endpoint answers
// with plainAck on the TCP connection under its TLS, and from then on both carry the session
// stream on TCP. framePaired without payload keeps TLS.
const (
	pairedPlain = 0x01
	plainAck    = 0x06
)

// magic opens every frameHello payload, so a CS recognises a Portcullis endpoint at once.
const magic = "PCRELAY!" // 8 bytes: 0x50 43 52 45 4c 41 59 21

// MaxTicketSize bounds the ticket carried in a frameHello, in bytes.
const MaxTicketSize = ticket.MaxTicketBytes

// Wire sizes and limits, in bytes.
const (
	frameHeaderLen = 1 + 4                             // frame type byte + big-endian uint32 payload length
	helloFixedLen  = len(magic) + 1 + 1                // magic + version byte + role byte
	maxHelloLen    = helloFixedLen + 1 + MaxTicketSize // largest frameHello payload the CS reads (a flags byte in version 2)
	maxCodeLen     = 64                                // longest refusal code
	maxResponseLen = maxCodeLen                        // largest payload a client reads from the CS
)

// frameType is the one byte at the start of every handshake frame. It is followed by a
// big-endian uint32 giving the length of the payload (not counting the 5 header bytes).
// Frames are only exchanged during the handshake; after framePaired the connection carries
// the raw session stream.
type frameType byte

// Handshake frames; see "Protocol flow" in the package documentation for their order.
const (
	frameHello    = frameType(0x01) // endpoint→CS: 8B magic + 1B version + 1B role (0x01 guest, 0x02 host) [+ 1B flags in version 2] + ticket (1..MaxTicketSize bytes of printable ASCII)
	frameAccepted = frameType(0x02) // CS→endpoint: no payload; the ticket verified, waiting for the other half
	framePaired   = frameType(0x03) // CS→endpoint: no payload (session bytes follow on TLS) or pairedPlain (the endpoint sends plainAck, then session bytes follow on TCP)
	frameRefused  = frameType(0x04) // CS→endpoint: reason code (1..64 bytes of [a-z0-9_]); the CS then closes
)

// Role bytes of frameHello.
const (
	roleByteGuest = 0x01 // access.RoleGuest
	roleByteHost  = 0x02 // access.RoleHost
)

// hello is a decoded frameHello.
type hello struct {
	// Version is the endpoint's protocol version: ProtocolVersion or protocolVersionFlags.
	Version byte
	// Role is the half the endpoint says it is; the ticket's role must match it.
	Role access.Role
	// PlainLegs asks for the session stream on TCP without TLS after pairing (version 2).
	PlainLegs bool
	// Ticket is the endpoint's raw ticket, not yet verified.
	Ticket string
}

// roleByte returns the wire byte of a role.
func roleByte(r access.Role) (byte, error) {
	switch r {
	case access.RoleGuest:
		return roleByteGuest, nil
	case access.RoleHost:
		return roleByteHost, nil
	}
	return 0, fmt.Errorf("relay: unknown role %q", r)
}

// roleFromByte is the inverse of roleByte.
func roleFromByte(b byte) (access.Role, error) {
	switch b {
	case roleByteGuest:
		return access.RoleGuest, nil
	case roleByteHost:
		return access.RoleHost, nil
	}
	return "", fmt.Errorf("relay: %w: unknown role byte 0x%02x", access.ErrBadHello, b)
}

// appendHello appends the frameHello payload for role and rawTicket to b: version 1, or
// version 2 with flagPlainLegs when plain is set.
func appendHello(b []byte, role access.Role, rawTicket string, plain bool) ([]byte, error) {
	rb, err := roleByte(role)
	if err != nil {
		return nil, err
	}
	if err := checkTicketText(rawTicket); err != nil {
		return nil, err
	}
	b = append(b, magic...)
	if plain {
		b = append(b, protocolVersionFlags, rb, flagPlainLegs)
	} else {
		b = append(b, ProtocolVersion, rb)
	}
	return append(b, rawTicket...), nil
}

// parseHello decodes a frameHello payload. Every error wraps access.ErrBadHello.
func parseHello(p []byte) (hello, error) {
	if len(p) < helloFixedLen {
		return hello{}, fmt.Errorf("relay: %w: %d-byte payload, want at least %d", access.ErrBadHello, len(p), helloFixedLen)
	}
	if string(p[:len(magic)]) != magic {
		return hello{}, fmt.Errorf("relay: %w: bad magic %q", access.ErrBadHello, p[:len(magic)])
	}
	h := hello{Version: p[len(magic)]}
	rest := p[helloFixedLen:]
	switch h.Version {
	case ProtocolVersion:
	case protocolVersionFlags:
		if len(rest) == 0 || rest[0] != flagPlainLegs {
			return hello{}, fmt.Errorf("relay: %w: version 2 hello without a known flags byte", access.ErrBadHello)
		}
		h.PlainLegs, rest = true, rest[1:]
	default:
		return hello{}, fmt.Errorf("relay: %w: protocol version %d, want %d or %d", access.ErrBadHello, h.Version, ProtocolVersion, protocolVersionFlags)
	}
	role, err := roleFromByte(p[len(magic)+1])
	if err != nil {
		return hello{}, err
	}
	h.Role = role
	h.Ticket = string(rest)
	if err := checkTicketText(h.Ticket); err != nil {
		return hello{}, err
	}
	return h, nil
}

// checkTicketText refuses a ticket that is empty, longer than MaxTicketSize, or not printable
// ASCII (so it can never smuggle control bytes into logs). Errors wrap access.ErrBadHello.
func checkTicketText(raw string) error {
	if raw == "" || len(raw) > MaxTicketSize {
		return fmt.Errorf("relay: %w: ticket is %d bytes, want 1..%d", access.ErrBadHello, len(raw), MaxTicketSize)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] > '~' {
			return fmt.Errorf("relay: %w: ticket byte %d is 0x%02x, not printable ASCII", access.ErrBadHello, i, raw[i])
		}
	}
	return nil
}

// readHello reads exactly one frameHello from r and decodes it. It never reads past the frame,
// so bytes an endpoint sends after its hello stay unread. Malformed frames wrap access.ErrBadHello;
// transport failures are returned wrapped as they are.
func readHello(r io.Reader) (hello, error) {
	t, p, err := readFrame(r, maxHelloLen, access.ErrBadHello)
	if err != nil {
		return hello{}, err
	}
	if t != frameHello {
		return hello{}, fmt.Errorf("relay: %w: frame type 0x%02x, want 0x%02x", access.ErrBadHello, byte(t), byte(frameHello))
	}
	return parseHello(p)
}

// readFrame reads one frame whose payload is at most maxLen bytes, reading exactly its bytes
// and no more. An oversized length is refused, wrapping malformed, before any payload is read
// or allocated.
func readFrame(r io.Reader, maxLen int, malformed error) (frameType, []byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("relay: read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if uint64(n) > uint64(maxLen) {
		return 0, nil, fmt.Errorf("%w: frame length %d exceeds limit %d", malformed, n, maxLen)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, fmt.Errorf("relay: read frame payload: %w", err)
	}
	return frameType(hdr[0]), p, nil
}

// writeFrame writes one complete frame with a single Write (on TLS, one record: every frame is
// smaller than 16 KiB).
func writeFrame(w io.Writer, t frameType, payload []byte) error {
	b := make([]byte, frameHeaderLen, frameHeaderLen+len(payload))
	b[0] = byte(t)
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	if _, err := w.Write(append(b, payload...)); err != nil {
		return fmt.Errorf("relay: write frame 0x%02x: %w", byte(t), err)
	}
	return nil
}

// validCode reports whether code may travel in a frameRefused: 1..maxCodeLen bytes of
// [a-z0-9_].
func validCode(code string) bool {
	if code == "" || len(code) > maxCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
