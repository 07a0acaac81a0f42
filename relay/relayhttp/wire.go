package relayhttp

import (
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Paths of the tunnel endpoints, below the CS's HTTP root.
const (
	PathOpen = "/relay/v1/open"
	PathSend = "/relay/v1/send"
	PathRecv = "/relay/v1/recv"
	PathPing = "/relay/v1/ping"
)

// Wire limits and sizes, in bytes unless named otherwise.
const (
	// WireVersion is the body of an open request. Version 4 carries runs of up to 64 chunks
	// (8 MiB) in a window of 128; version 3 carried runs of 16 in a window of 32, version 2 one
	// chunk per request.
	WireVersion = 4
	// MaxChunkData is the most stream bytes one chunk carries: large, so that a bulk transfer
	// costs few requests (a proxy such as tinyproxy opens one upstream connection per request).
	MaxChunkData = 128 << 10
	// maxChunk is the largest chunk body: flags byte + data.
	maxChunk = 1 + MaxChunkData
	// openLen is the body of an open request: the version.
	openLen = 1
	// idLen is the tunnel id in bytes (sent as 2*idLen hex digits).
	idLen = 16
	// window is how many chunks past the last contiguous one either side accepts: 16 MiB, so
	// that each of the requests in flight carries a run of 8 MiB. Behind a proxy that opens an
	// upstream connection and syncs its log per request (tinyproxy), a request costs
	// milliseconds however small it is: the larger the run, the fewer of them per MB.
	window = 128
	// span is the most chunks one send request or one recv answer carries: the window shared by
	// the requests in flight each way, so that together they never reach past it.
	span = window / Receivers
	// frameHeader is the length prefix of a frame: the chunk body's length, 4 bytes big-endian.
	frameHeader = 4
	// maxFrames is the largest body of frames: span full chunks.
	maxFrames = span * (frameHeader + maxChunk)
)

// Chunk flags.
const (
	flagFin = 0x01 // the sender finished sending; no chunk follows
)

// Errors of the wire format.
var (
	// ErrBadChunk means a chunk was malformed.
	ErrBadChunk = errors.New("relayhttp: bad chunk")
	// ErrBadRequest means a tunnel request was malformed.
	ErrBadRequest = errors.New("relayhttp: bad request")
)

// frameChunk renders one chunk body: the flags byte, then the stream bytes (TLS records).
func frameChunk(flags byte, data []byte) []byte {
	b := make([]byte, 0, 1+len(data))
	return append(append(b, flags), data...)
}

// openChunk parses one chunk body; errors wrap ErrBadChunk. The data aliases body.
func openChunk(body []byte) (byte, []byte, error) {
	if len(body) < 1 || len(body) > maxChunk {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrBadChunk, len(body))
	}
	if body[0]&^flagFin != 0 {
		return 0, nil, fmt.Errorf("%w: unknown flags 0x%02x", ErrBadChunk, body[0])
	}
	return body[0], body[1:], nil
}

// appendFrame appends one frame to b: the chunk body's length (4 bytes, big-endian), the flags
// byte, then the stream bytes.
func appendFrame(b []byte, flags byte, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(data)))
	return append(append(b, flags), data...)
}

// frameHead renders the part of a frame before its n stream bytes: the length and the flags.
func frameHead(flags byte, n int) []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, frameHeader+1), uint32(1+n)), flags)
}

// readFrame reads one frame of a run (a send request's body, a recv answer): io.EOF at the end
// of the run, io.ErrUnexpectedEOF inside a frame, and errors wrapping ErrBadChunk for a frame
// that is not one. The chunk's data is in a buffer of its own, from pool when it is large (the
// chunk's buf: the stream that takes the chunk puts it back).
func readFrame(r io.Reader, pool *framePool) (chunk, error) {
	var head [frameHeader]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return chunk{}, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < 1 || n > maxChunk {
		return chunk{}, fmt.Errorf("%w: frame of %d bytes", ErrBadChunk, n)
	}
	body, buf := pool.get(int(n))
	if _, err := io.ReadFull(r, body); err != nil {
		pool.put(buf)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return chunk{}, err
	}
	flags, data, err := openChunk(body)
	if err != nil {
		pool.put(buf)
		return chunk{}, err
	}
	return chunk{flags: flags, data: data, buf: buf}, nil
}

// parseOpen checks an open request body: the wire version.
func parseOpen(body []byte) error {
	if len(body) != openLen {
		return fmt.Errorf("%w: open body is %d bytes, want %d", ErrBadRequest, len(body), openLen)
	}
	if body[0] != WireVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadRequest, body[0], WireVersion)
	}
	return nil
}

// parseID checks a tunnel id: 2*idLen lower-case hex digits.
func parseID(s string) (string, error) {
	if len(s) != 2*idLen {
		return "", fmt.Errorf("%w: tunnel id of %d characters", ErrBadRequest, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil || s != lowerHex(s) {
		return "", fmt.Errorf("%w: tunnel id is not lower-case hex", ErrBadRequest)
	}
	return s, nil
}

func lowerHex(s string) string {
	b, _ := hex.DecodeString(s)
	return hex.EncodeToString(b)
}

// parseSeq parses a decimal sequence number.
func parseSeq(s string) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("%w: sequence number %q", ErrBadRequest, s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: sequence number %q", ErrBadRequest, s)
	}
	return n, nil
}

// parseCount parses a recv's count of chunks: 1 to span.
func parseCount(s string) (uint64, error) {
	n, err := parseSeq(s)
	if err != nil || n < 1 || n > span {
		return 0, fmt.Errorf("%w: count %q, want 1 to %d", ErrBadRequest, s, span)
	}
	return n, nil
}

// PinTLS returns a copy of base (nil: an empty config) that both ends of a tunnel run: TLS 1.2
// with ECDHE and AES-256-GCM only (TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 or
// TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, as the CS's certificate key is). TLS 1.3 would be
// preferable, but Go's crypto/tls does not let a program choose TLS 1.3 suites, and a Go
// server picks TLS_AES_128_GCM_SHA256 (or ChaCha20-Poly1305 without AES hardware) over
// TLS_AES_256_GCM_SHA384 whenever the client offers it, which a Go client always does: only
// TLS 1.2's configurable suites guarantee AES-256 on the HTTP path.
func PinTLS(base *tls.Config) *tls.Config {
	c := &tls.Config{}
	if base != nil {
		c = base.Clone()
	}
	c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
	c.NextProtos = nil
	// Full records from the start: every record costs a frame's share of a request.
	c.DynamicRecordSizingDisabled = true
	return c
}
